"""What decides, without I/O: reading a failure, classifying it, choosing the wait, the breaker,
pacing and the retry-budget ledger. Every function here is pure over its inputs and a clock."""
