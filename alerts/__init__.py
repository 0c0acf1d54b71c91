"""Watch rules, matching, rendering and delivery of alerts."""
