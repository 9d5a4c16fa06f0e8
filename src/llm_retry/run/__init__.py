"""What runs: the retry engine and its sync and async drivers, streams, the clock, and the
shared per-key state the decorators consult."""
