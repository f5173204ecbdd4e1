"""People: persons and staff roles with their scope, sign-in and tokens, bind codes, riders."""
