"""The Terraform stacks of one deployment: the bootstrap (its state bucket) and the platform."""
