"""kubectl describe: the lines saying what is wrong are kept, whatever words the goal uses."""

from __future__ import annotations

from sidecar.pruning.engine.describe import is_describe, trouble_lines
from tests.pruning.engine.samples import prune

POD = """\
Name:             api-7d9f8c6b5-xk2pq
Namespace:        prod
Priority:         0
Node:             node-1.prod.internal/10.0.1.11
Start Time:       Sun, 06 Dec 2026 02:10:44 +0000
Labels:           app=api
                  pod-template-hash=7d9f8c6b5
Status:           Running
IP:               10.244.0.17
Controlled By:  ReplicaSet/api-7d9f8c6b5
Containers:
  api:
    Container ID:   containerd://4f1c2b9a
    Image:          registry.example.com/api:2.4.1
    Port:           8080/TCP
    State:          Running
      Started:      Sun, 06 Dec 2026 03:02:11 +0000
    Last State:     Terminated
      Reason:       OOMKilled
      Exit Code:    137
      Started:      Sun, 06 Dec 2026 02:58:40 +0000
      Finished:     Sun, 06 Dec 2026 03:02:09 +0000
    Ready:          True
    Restart Count:  14
    Limits:
      cpu:     1
      memory:  256Mi
    Requests:
      cpu:      250m
      memory:   128Mi
    Liveness:   http-get http://:8080/healthz delay=10s timeout=1s period=10s #success=1 #failure=3
    Environment:
      LOG_LEVEL:  info
      WORKERS:    8
  sidecar:
    Image:          registry.example.com/sidecar:1.0.0
    State:          Running
      Started:      Sun, 06 Dec 2026 02:10:50 +0000
    Ready:          True
    Restart Count:  0
Conditions:
  Type                        Status
  Initialized                 True
  Ready                       True
  ContainersReady             True
  PodScheduled                True
Volumes:
  kube-api-access-x7h2k:
    Type:                    Projected (a volume that contains injected data from multiple sources)
    TokenExpirationSeconds:  3607
QoS Class:                   Burstable
Events:
  Type     Reason   Age                  From     Message
  ----     ------   ----                 ----     -------
  Normal   Pulled   4m (x15 over 52m)    kubelet  Container image "api:2.4.1" already present
  Normal   Created  4m (x15 over 52m)    kubelet  Created container api
  Warning  BackOff  90s (x40 over 50m)   kubelet  Back-off restarting failed container api
"""

NODE = """\
Name:               node-2.prod.internal
Roles:              <none>
Conditions:
  Type             Status  LastHeartbeatTime                 Reason                       Message
  ----             ------  -----------------                 ------                       -------
  MemoryPressure   False   Sun, 06 Dec 2026 03:10:00 +0000   KubeletHasSufficientMemory   sufficient memory
  DiskPressure     True    Sun, 06 Dec 2026 03:10:00 +0000   KubeletHasDiskPressure       disk pressure
  Ready            True    Sun, 06 Dec 2026 03:10:00 +0000   KubeletReady                 posting ready status
Events:              <none>
"""


def test_describe_output_is_told_from_other_name_fields() -> None:
    assert is_describe(POD.split("\n")) and is_describe(NODE.split("\n"))
    pip_show = "Name: aiohttp\nVersion: 3.14.5\nRequires: yarl\nRequired-by: sidecar\n"
    assert not is_describe(pip_show.split("\n"))
    assert not is_describe(("name: api\nkind: Pod\nevents:\n  - x\n").split("\n"))  # YAML


def test_trouble_is_a_bad_state_a_failed_condition_or_a_warning_event() -> None:
    lines = POD.split("\n")
    trouble, above = trouble_lines(lines)
    said = [lines[i].strip() for i in trouble]
    assert said[:4] == [
        "Last State:     Terminated",
        "Reason:       OOMKilled",
        "Exit Code:    137",
        "Restart Count:  14",
    ]
    assert said[4].startswith("Warning  BackOff") and len(said) == 5  # Running, True, 0 are healthy
    assert [lines[i].strip() for i in above] == ["Containers:", "api:", "Events:"]
    node = NODE.split("\n")
    assert [node[i].split()[0] for i in trouble_lines(node)[0]] == ["DiskPressure"]  # pressure: True is wrong


def test_the_goal_need_not_name_what_went_wrong() -> None:
    lines = POD.split("\n")
    for keep in (None, 0.3):
        kept, _ = prune(POD, "Why does the api pod keep restarting?", "code", keep)
        for i in trouble_lines(lines)[0]:
            assert kept[i], (keep, lines[i])
