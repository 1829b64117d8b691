#!/usr/bin/env python3
"""Requests per second and latency through each front door to the same function, in the same
run: Invoke, a function URL, an HTTP API (payload 2.0), a REST API (proxy integration) and an
Application Load Balancer. Plain HTTP/1.1 keep-alive connections (http.client, one per client
thread), a Python function with 1,769 MB (one full CPU: with CPU in proportion to memory a
smaller one would measure its own quota).

Usage: .venv/bin/python scripts/bench_doors.py [--bin target/release/lambdad] [--requests 2000]
Figures for BENCHMARKS.md, never test thresholds."""

import argparse
import http.client
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
import conftest  # noqa: E402
from conftest import ROLE, Server, make_client, parallel, zip_bytes  # noqa: E402

APP = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"
CLIENTS = (1, 8)


def measure(name, base, method, path, total):
    """`total` requests over `clients` keep-alive connections to `base` (Host from it)."""
    parts = urlsplit(base)
    for clients in CLIENTS:
        per = total // clients
        times = [[] for _ in range(clients)]
        failed = []

        def work(i):
            conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=60)
            headers = {"Host": parts.netloc, "Content-Type": "application/json"}
            for _ in range(per):
                start = time.perf_counter()
                conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status == 200 and body in (b"ok", b'{"statusCode": 200, "body": "ok"}'):
                    times[i].append(time.perf_counter() - start)
                else:
                    failed.append((resp.status, body[:80]))
            conn.close()

        took = parallel(clients, work)
        all_times = sorted(t for ts in times for t in ts)
        if failed:
            print(f"{name}: {len(failed)} of {per * clients} failed, first {failed[0]}")
        p50 = statistics.median(all_times) * 1e3
        p99 = all_times[int(len(all_times) * 0.99) - 1] * 1e3
        print(f"{name:<22} {clients} client(s): {len(all_times) / took:7,.0f} req/s, p50 {p50:6.2f} ms, p99 {p99:6.2f} ms")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=None)
    p.add_argument("--requests", type=int, default=2000)
    args = p.parse_args()
    if args.bin:
        conftest.BIN = Path(args.bin).resolve()
    print(f"lambdad binary: {conftest.BIN}")
    # Eight 1,769 MB environments need more than the default budget (half the host's memory).
    server = Server(extra=["--memory-budget-mb", "32768"])
    server.start()
    try:
        lam = make_client(server.endpoint)
        arn = lam.create_function(FunctionName="door", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                  MemorySize=1769, Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})})["FunctionArn"]
        lam.get_waiter("function_active_v2").wait(FunctionName="door")
        account = arn.split(":")[4]

        url = lam.create_function_url_config(FunctionName="door", AuthType="NONE")["FunctionUrl"]
        lam.add_permission(FunctionName="door", StatementId="url", Action="lambda:InvokeFunctionUrl",
                           Principal="*", FunctionUrlAuthType="NONE")

        http_api = make_client(server.endpoint, "apigatewayv2").create_api(
            Name="bench", ProtocolType="HTTP", Target=arn)
        rest = make_client(server.endpoint, "apigateway")
        api = rest.create_rest_api(name="bench")
        proxy = rest.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="{proxy+}")["id"]
        rest.put_method(restApiId=api["id"], resourceId=proxy, httpMethod="ANY", authorizationType="NONE")
        rest.put_integration(restApiId=api["id"], resourceId=proxy, httpMethod="ANY", type="AWS_PROXY",
                             integrationHttpMethod="POST",
                             uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations")
        rest.create_deployment(restApiId=api["id"], stageName="prod")
        for sid, api_id in (("http", http_api["ApiId"]), ("rest", api["id"])):
            lam.add_permission(FunctionName="door", StatementId=sid, Action="lambda:InvokeFunction",
                               Principal="apigateway.amazonaws.com",
                               SourceArn=f"arn:aws:execute-api:us-east-1:{account}:{api_id}/*")

        elb = make_client(server.endpoint, "elbv2")
        tg = elb.create_target_group(Name="bench", TargetType="lambda")["TargetGroups"][0]["TargetGroupArn"]
        lam.add_permission(FunctionName="door", StatementId="elb", Action="lambda:InvokeFunction",
                           Principal="elasticloadbalancing.amazonaws.com", SourceArn=tg)
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": arn}])
        lb = elb.create_load_balancer(Name="bench", Subnets=["subnet-1", "subnet-2"])["LoadBalancers"][0]
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])

        doors = [
            ("Invoke", server.endpoint, "POST", "/2015-03-31/functions/door/invocations"),
            ("function URL", url, "GET", "/"),
            ("HTTP API (2.0)", http_api["ApiEndpoint"], "GET", "/items"),
            ("REST API (proxy)", f"http://{api['id']}.execute-api.us-east-1.localhost:{server.port}", "GET",
             "/prod/items"),
            ("ALB", f"http://{lb['DNSName']}", "GET", "/items"),
        ]
        for door in doors:  # warm the environments first
            measure(door[0], *door[1:], total=16)
        print("---")
        for door in doors:
            measure(*door, total=args.requests)
    finally:
        server.stop()
        server.tmp.cleanup()


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    main()
