"""Alert routing: who hears about a breach, when, and when not (maintenance, silences)."""
