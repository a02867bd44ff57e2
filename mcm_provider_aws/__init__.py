"""The AWS provider for the machine controller: an ``mcm.driver`` implementation on boto3.

The driver comes with the AWS provider issue; `mcm_provider_aws.testing` already runs EC2 over
HTTP (moto's server behind a fault-injection front) for the integration tests.
"""
