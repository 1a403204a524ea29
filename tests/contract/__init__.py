"""The source contract: one suite of scenarios run against every platform."""
