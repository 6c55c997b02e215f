"""Reads of the memory app. Every selector takes the project first and answers NotFound for
missing and foreign rows alike."""
