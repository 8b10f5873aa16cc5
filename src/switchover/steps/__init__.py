"""The Step protocol and the built-in steps."""
