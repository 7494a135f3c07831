"""The ``armap`` command line."""
