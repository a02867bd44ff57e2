"""The AWS provider for the machine controller: `mcm_provider_aws.driver.AWSDriver` on boto3.

`provider_spec` decodes a MachineClass's providerSpec, `validation` checks it with upstream's
rules and messages, `credentials` reads the secret, `ec2` builds cached, throttled EC2 clients,
and `errors` maps EC2 error codes onto machine codes. `mcm_provider_aws.testing` runs EC2 over
HTTP (moto's server behind a fault-injection front) for tests, benchmarks and the demo.
"""
