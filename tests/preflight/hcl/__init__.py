"""HCL fixture projects checked through their plan JSON (``terraform show -json``), and how to plan them.

``fixed/`` is a small hand-written payment service; ``deploy_failures/`` is the same project with the ten
catalogued deploy failures (``preflight.failures``) written in (``planning.DEFECTS`` turns the one into the
other, and a test keeps the checked-in file equal to that). ``planning`` plans either with the real terraform
against a moto server.
"""
