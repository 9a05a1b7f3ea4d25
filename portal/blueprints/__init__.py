"""Thin HTTP handlers: parse input, call one rule, render JSON, HTML or events."""
