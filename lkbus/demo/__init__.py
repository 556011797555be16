"""`lkbus demo`: the whole system at work, on the local broker by default."""
