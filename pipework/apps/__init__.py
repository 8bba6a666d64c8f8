"""Ready-made programs written with the public script API only, as a user would write them."""
