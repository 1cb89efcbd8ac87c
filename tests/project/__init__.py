"""Tests of the project as a user meets it: README, docs, examples, layout."""
