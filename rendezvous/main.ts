// Placeholder until the rendezvous server lands (issue 3).
console.error('parley rendezvous: not built yet (issue 3)')
process.exitCode = 1
