"""Validates an OpenAPI document (a file path, or - for standard input) with
openapi-spec-validator; prints each error and exits 1 if there is one."""

import json
import sys

from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

source = sys.stdin if sys.argv[1] == "-" else open(sys.argv[1], encoding="utf-8")
document = json.load(source)
version = document.get("openapi", "")
validator = OpenAPIV31SpecValidator if version.startswith("3.1") else OpenAPIV30SpecValidator
errors = list(validator(document).iter_errors())
for error in errors:
    print(f"- {str(error).splitlines()[0]}")
print(f"OpenAPI {version}: {len(errors)} errors")
sys.exit(1 if errors else 0)
