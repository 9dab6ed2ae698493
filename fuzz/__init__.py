"""Coverage-guided fuzzing (atheris) of the parsers that read untrusted input.

``python -m fuzz --seconds 60`` (``make fuzz``) runs every target for that long;
``python -m fuzz --runs 2000`` is the bounded quick mode the test suite uses. The properties
each input must satisfy live in :mod:`fuzz.properties`, shared with the hypothesis tests.
"""
