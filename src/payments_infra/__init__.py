"""Infrastructure of the payment platform: environment config, naming, constructs, stacks, the Lambda build."""
