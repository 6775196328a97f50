"""The seed README's Python client example, against generated code in $PYTHONPATH.

Usage: python3 python_health_check.py HOST:PORT
Prints the health status name and the list of services found by reflection-free calls.
"""
import sys

import grpc
from health.v1 import health_pb2, health_pb2_grpc
from orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc

channel = grpc.insecure_channel(sys.argv[1])
health = health_pb2_grpc.HealthServiceStub(channel)
response = health.Check(health_pb2.HealthCheckRequest(service="orchestrator"))
print(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

orchestrator = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
machines = orchestrator.ListMachines(orchestrator_pb2.ListMachinesRequest())
print(",".join(sorted(m.id for m in machines.machines)))
try:
    orchestrator.GetWorkflow(orchestrator_pb2.GetWorkflowRequest(id="no-such-workflow"))
except grpc.RpcError as err:
    print(err.code().name)
