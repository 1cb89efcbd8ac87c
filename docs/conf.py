"""Sphinx configuration: the API reference is generated from the docstrings."""

project = "tuntap-cffi"
author = "tuntap-cffi developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.intersphinx"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
nitpicky = False
intersphinx_mapping = {}
html_theme = "alabaster"
exclude_patterns = ["_build"]
