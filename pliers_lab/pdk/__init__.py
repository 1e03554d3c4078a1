"""The Plugin Development Kit (spec: Development and Testing): the ``pliers`` command line,
plugin templates, checks, generated docs, and a pytest plugin with a test harness."""
