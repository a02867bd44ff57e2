"""The AWS provider for the machine controller: an ``mcm.driver`` implementation on boto3 (to come)."""
