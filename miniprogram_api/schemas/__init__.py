"""Marshmallow schemas of the contract, one module per area; fields are listed explicitly."""
