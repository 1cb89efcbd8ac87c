"""Tests of link configuration over rtnetlink and of link events."""
