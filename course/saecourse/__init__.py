"""Shared helpers for the Superposition & Sparse Autoencoders course.

The notebooks import from here whatever is not itself an exercise: plotting, seeding,
file locations, and (from Part 2 on) the language model, corpus and activation store.
"""
