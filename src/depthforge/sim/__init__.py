"""SimBench: procedural scenes with exact depth, rendered with Mitsuba 3 in easy and hard conditions."""
