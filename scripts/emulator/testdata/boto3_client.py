"""Drives the Bedrock emulator with boto3, as an original client would.

Usage: python3 boto3_client.py ENDPOINT_URL
Prints one JSON object with what boto3 read; the Go test judges it.
"""
import base64
import json
import struct
import sys

import boto3
from botocore.config import Config

url = sys.argv[1]
cfg = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30)
runtime = boto3.client("bedrock-runtime", endpoint_url=url, region_name="us-west-2", config=cfg)
control = boto3.client("bedrock", endpoint_url=url, region_name="us-west-2", config=cfg)
out = {}

resp = runtime.invoke_model(
    modelId="emulator.image-v1",
    contentType="application/json",
    accept="application/json",
    body=json.dumps({
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a lighthouse in a storm"},
        "imageGenerationConfig": {"numberOfImages": 2, "width": 576, "height": 384, "cfgScale": 8.0, "seed": 11},
    }),
)
images = json.loads(resp["body"].read())["images"]
png = base64.b64decode(images[0])
width, height = struct.unpack(">II", png[16:24])
out["image"] = {"count": len(images), "signature": png[:8].hex(), "width": width, "height": height, "b64": images[0]}

resp = runtime.invoke_model(
    modelId="emulator.embed-v1",
    body=json.dumps({"inputText": "boto3 says hello", "dimensions": 256, "normalize": True}),
)
out["embedding"] = json.loads(resp["body"].read())

try:
    runtime.invoke_model(
        modelId="emulator.image-v1",
        body=json.dumps({"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "x"},
                         "imageGenerationConfig": {"width": 1000, "height": 1000}}),
    )
    out["badSize"] = "accepted"
except runtime.exceptions.ValidationException as e:
    out["badSize"] = e.response["Error"]["Message"]

resp = runtime.invoke_model_with_response_stream(
    modelId="emulator.fast-v1",
    body=json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                     "messages": [{"role": "user", "content": "boto3 streams"}]}),
)
text, kinds = "", []
for event in resp["body"]:
    chunk = json.loads(event["chunk"]["bytes"])
    kinds.append(chunk["type"])
    if chunk["type"] == "content_block_delta":
        text += chunk["delta"]["text"]
out["stream"] = {"text": text, "types": kinds}

out["models"] = [m["modelId"] for m in control.list_foundation_models()["modelSummaries"]]
out["imageModels"] = [m["modelId"] for m in control.list_foundation_models(byOutputModality="IMAGE")["modelSummaries"]]
out["firstModel"] = control.list_foundation_models(byProvider="emulator")["modelSummaries"][0]

print(json.dumps(out, default=str))
