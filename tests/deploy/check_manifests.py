#!/usr/bin/env python3
"""Check that deploy/ agrees with itself and with the lode binary it deploys.

usage: check_manifests.py REPO_ROOT LODE_BINARY

Reads deploy/Containerfile and every manifest of deploy/k8s (through kustomization.yaml) and
fails, listing every problem, when:
  * the kustomization lists a file that does not exist, or a manifest it does not list;
  * an object lacks apiVersion, kind or name, or two objects share kind and name;
  * a Deployment's selector does not select its own pods; a Service, PodDisruptionBudget or
    NetworkPolicy selects no lode pod; the HPA scales something that is not there;
  * a container sets a LODE_* variable (directly, or through the ConfigMap) or passes an option
    that its `lode` subcommand does not read (`lode <cmd> --help` lists both);
  * a probe asks for a path that api/openapi.json does not serve, or a port the container does
    not declare; the cleartext port is not the one LODE_LISTEN names; the ports the image
    EXPOSEs differ from the container's;
  * a file the image expects (LODE_TLS_CERT, LODE_TLS_KEY, LODE_LEDGER_KEY) is not under a
    mounted secret; a secret is mounted with a mode its non-root user cannot read;
  * a pod could run as root, write its root filesystem, escalate privileges, or keep
    capabilities; a container has no memory limit;
  * the grace period is not longer than the preStop pause plus LODE_SHUTDOWN_TIMEOUT_MS;
  * the connection pooler is not in session mode (lode holds session advisory locks), or its
    server connections cannot hold every replica's at full scale during a rollout, or they
    leave PostgreSQL less than RESERVE connections;
  * the image sets a LODE_* variable that its command does not read;
  * `kubectl kustomize` (when kubectl is installed) cannot render the folder.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

problems = []
SEQUENCER_CONNECTIONS = 3  # lock, work and LISTEN (storage/ledger_sequencer.c)
RESERVE = 20               # PostgreSQL connections left for the migrations Job, people, CloudNativePG


def problem(msg):
    problems.append(msg)


def containerfile(path):
    """ENV (last stage), EXPOSE, USER and CMD of the final stage."""
    env, expose, user, cmd = {}, set(), None, None
    text = open(path, encoding="utf-8").read().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            env, expose, user, cmd = {}, set(), None, None
        elif word == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", rest):
                env[key] = value
        elif word == "EXPOSE":
            expose |= {int(p.split("/")[0]) for p in rest.split()}
        elif word == "USER":
            user = rest.strip()
        elif word == "CMD":
            cmd = json.loads(rest)
    return env, expose, user, cmd


def options_of(lode, command):
    out = subprocess.run([lode, *command, "--help"], capture_output=True, text=True,
                         check=False)
    text = out.stdout + out.stderr
    names = set(re.findall(r"\[(LODE_[A-Z0-9_]+)", text))
    flags = set(re.findall(r"^\s+(--[a-z0-9-]+)", text, re.M))
    if not names or not flags:
        problem("`lode %s --help` lists no options" % " ".join(command))
    return names, flags


def selects(selector, labels):
    wanted = selector.get("matchLabels", selector) if selector else {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    root, lode = sys.argv[1], sys.argv[2]
    k8s = os.path.join(root, "deploy", "k8s")
    image_env, expose, image_user, image_cmd = containerfile(
        os.path.join(root, "deploy", "Containerfile"))
    with open(os.path.join(root, "api", "openapi.json"), encoding="utf-8") as f:
        served = set(json.load(f)["paths"])

    with open(os.path.join(k8s, "kustomization.yaml"), encoding="utf-8") as f:
        kust = yaml.safe_load(f)
    listed = kust.get("resources", [])
    present = sorted(n for n in os.listdir(k8s)
                     if n.endswith(".yaml") and n != "kustomization.yaml")
    for name in sorted(set(present) - set(listed)):
        problem("%s is not listed in kustomization.yaml" % name)
    objects = []
    for name in listed:
        path = os.path.join(k8s, name)
        if not os.path.exists(path):
            problem("kustomization.yaml lists %s, which does not exist" % name)
            continue
        with open(path, encoding="utf-8") as f:
            objects += [(name, o) for o in yaml.safe_load_all(f) if o]
    seen = set()
    for name, o in objects:
        if not all(k in o for k in ("apiVersion", "kind")) or not o.get("metadata", {}).get("name"):
            problem("%s: an object lacks apiVersion, kind or metadata.name" % name)
            continue
        key = (o["kind"], o["metadata"]["name"])
        if key in seen:
            problem("%s: %s %s is defined twice" % (name, *key))
        seen.add(key)
    by_kind = {}
    for _, o in objects:
        by_kind.setdefault(o.get("kind"), []).append(o)
    config = {}
    for cm in by_kind.get("ConfigMap", []):
        config[cm["metadata"]["name"]] = cm.get("data", {})
    if image_cmd:
        image_known, _ = options_of(lode, image_cmd[:1])
        for k in sorted(k for k in image_env if k.startswith("LODE_") and k not in image_known):
            problem("Containerfile: ENV %s is not read by `lode %s`" % (k, image_cmd[0]))

    # pods: Deployments and Jobs
    pods = []
    for kind in ("Deployment", "Job"):
        for o in by_kind.get(kind, []):
            spec, tmpl = o["spec"], o["spec"]["template"]
            labels = tmpl.get("metadata", {}).get("labels", {})
            if kind == "Deployment" and not selects(spec.get("selector"), labels):
                problem("Deployment %s: its selector does not select its pods"
                        % o["metadata"]["name"])
            pods.append((kind, o, tmpl["spec"], labels))
    if not any(k == "Deployment" for k, *_ in pods):
        problem("no Deployment")

    for kind, o, pod, labels in pods:
        where = "%s %s" % (kind, o["metadata"]["name"])
        psc = pod.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True or not psc.get("runAsUser"):
            problem("%s: may run as root (runAsNonRoot, runAsUser)" % where)
        if image_user and str(psc.get("runAsUser")) != image_user.split(":")[0]:
            problem("%s: runAsUser %s is not the image's user %s"
                    % (where, psc.get("runAsUser"), image_user))
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in pod["containers"]:
            cw = "%s container %s" % (where, c["name"])
            args = c.get("args") or image_cmd or []
            command = [a for a in args if not a.startswith("-")][:1]
            if not command:
                problem("%s: runs no lode subcommand" % cw)
                continue
            known, flags = options_of(lode, command)
            for a in args:
                if a.startswith("--") and a.split("=", 1)[0] not in flags:
                    problem("%s: passes %s, which `lode %s` does not take"
                            % (cw, a, command[0]))
            env = dict(image_env)
            for ref in c.get("envFrom", []):
                cm = ref.get("configMapRef", {}).get("name")
                if cm is not None:
                    if cm not in config:
                        problem("%s: envFrom names ConfigMap %s, which is not defined"
                                % (cw, cm))
                    env.update(config.get(cm, {}))
            for e in c.get("env", []):
                env[e["name"]] = e.get("value", "<from %s>" % list(e.get("valueFrom", {})))
            own = {k for k in env if k.startswith("LODE_")} - set(image_env)
            for k in sorted(own - known):
                problem("%s: sets %s, which `lode %s` does not read" % (cw, k, command[0]))
            if "LODE_DATABASE_URL" not in env:
                problem("%s: no LODE_DATABASE_URL" % cw)

            csc = c.get("securityContext", {})
            if csc.get("allowPrivilegeEscalation") is not False:
                problem("%s: allowPrivilegeEscalation is not false" % cw)
            if csc.get("readOnlyRootFilesystem") is not True:
                problem("%s: the root filesystem is writable" % cw)
            if "ALL" not in csc.get("capabilities", {}).get("drop", []):
                problem("%s: capabilities are not all dropped" % cw)
            if not c.get("resources", {}).get("limits", {}).get("memory"):
                problem("%s: no memory limit" % cw)

            mounts = {m["mountPath"].rstrip("/"): m["name"] for m in c.get("volumeMounts", [])}
            if command[0] == "serve":
                for var in ("LODE_TLS_CERT", "LODE_TLS_KEY", "LODE_LEDGER_KEY"):
                    path = env.get(var)
                    if path is None:
                        problem("%s: %s is not set" % (cw, var))
                        continue
                    vol = volumes.get(mounts.get(os.path.dirname(path), ""), {})
                    if "secret" not in vol:
                        problem("%s: %s (%s) is not in a mounted secret" % (cw, var, path))
                        continue
                    mode = vol["secret"].get("defaultMode", 0o644)
                    if not mode & 0o004 and not (mode & 0o040 and psc.get("fsGroup")):
                        problem("%s: %s is mounted with mode %o, unreadable by user %s"
                                % (cw, path, mode, psc.get("runAsUser")))
                ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
                if set(ports.values()) != expose:
                    problem("%s: ports %s differ from the image's EXPOSE %s"
                            % (cw, sorted(ports.values()), sorted(expose)))
                listen = env.get("LODE_LISTEN", "")
                http_port = int(listen.rsplit(":", 1)[1]) if ":" in listen else None
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    get = c.get(probe, {}).get("httpGet")
                    if get is None:
                        problem("%s: no %s" % (cw, probe))
                        continue
                    if get["path"] not in served:
                        problem("%s: %s asks for %s, which the API does not serve"
                                % (cw, probe, get["path"]))
                    port = ports.get(get["port"], get["port"])
                    if port != http_port:
                        problem("%s: %s uses port %s, not the cleartext listener %s"
                                % (cw, probe, port, http_port))
                if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                    problem("%s: readiness is not /readyz (the database and migrations)" % cw)
                pause = 0
                pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
                if pre and os.path.basename(pre[0]) == "sleep":
                    pause = int(pre[1])
                grace = pod.get("terminationGracePeriodSeconds", 30)
                drain = int(env.get("LODE_SHUTDOWN_TIMEOUT_MS", "10000")) / 1000
                if grace <= pause + drain:
                    problem("%s: grace period %ss is not longer than the %ss pause plus the "
                            "%ss shutdown timeout" % (cw, grace, pause, drain))

    server_labels = [labels for kind, _, _, labels in pods if kind == "Deployment"]
    all_labels = [labels for *_, labels in pods]
    for kind in ("Service", "PodDisruptionBudget"):
        for o in by_kind.get(kind, []):
            if not any(selects(o["spec"].get("selector"), lb) for lb in server_labels):
                problem("%s %s selects no server pod" % (kind, o["metadata"]["name"]))
    for o in by_kind.get("NetworkPolicy", []):
        if not any(selects(o["spec"].get("podSelector"), lb) for lb in all_labels):
            problem("NetworkPolicy %s selects no lode pod" % o["metadata"]["name"])
    deployments = {o["metadata"]["name"] for o in by_kind.get("Deployment", [])}
    for o in by_kind.get("HorizontalPodAutoscaler", []):
        target = o["spec"]["scaleTargetRef"]
        if target.get("kind") != "Deployment" or target.get("name") not in deployments:
            problem("HorizontalPodAutoscaler %s scales %s %s, which is not defined"
                    % (o["metadata"]["name"], target.get("kind"), target.get("name")))
    for o in by_kind.get("Pooler", []):
        mode = o["spec"].get("pgbouncer", {}).get("poolMode")
        if mode != "session":
            problem("Pooler %s: poolMode %s; lode needs session (advisory locks)"
                    % (o["metadata"]["name"], mode))

    # connections at full scale during a rollout, against the pooler and PostgreSQL
    hpas = by_kind.get("HorizontalPodAutoscaler", [])
    deps = by_kind.get("Deployment", [])
    poolers = by_kind.get("Pooler", [])
    clusters = by_kind.get("Cluster", [])
    if hpas and deps and poolers and clusters:
        surge = deps[0]["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxSurge", 1)
        pods = int(hpas[0]["spec"]["maxReplicas"]) + (int(surge) if str(surge).isdigit() else 1)
        env = {}
        for ref in deps[0]["spec"]["template"]["spec"]["containers"][0].get("envFrom", []):
            env.update(config.get(ref.get("configMapRef", {}).get("name"), {}))
        per_pod = int(env.get("LODE_DB_POOL_SIZE", 8)) + SEQUENCER_CONNECTIONS
        server = sum(int(p["spec"].get("instances", 1)) *
                     int(p["spec"].get("pgbouncer", {}).get("parameters", {})
                         .get("default_pool_size", 20)) for p in poolers)
        maxconn = int(clusters[0]["spec"].get("postgresql", {}).get("parameters", {})
                      .get("max_connections", 100))
        if pods * per_pod > server:
            problem("%d pods x %d connections = %d, more than the poolers' %d server connections"
                    % (pods, per_pod, pods * per_pod, server))
        if server > maxconn - RESERVE:
            problem("the poolers' %d server connections leave PostgreSQL (max_connections %d) "
                    "fewer than %d" % (server, maxconn, RESERVE))
    else:
        problem("no HorizontalPodAutoscaler, Deployment, Pooler or Cluster to size connections")

    if shutil.which("kubectl"):
        out = subprocess.run(["kubectl", "kustomize", k8s], capture_output=True, text=True,
                             check=False)
        if out.returncode != 0:
            problem("kubectl kustomize: " + out.stderr.strip())
        elif len([o for o in yaml.safe_load_all(out.stdout) if o]) != len(objects):
            problem("kubectl kustomize renders a different number of objects")
    else:
        print("deploy: kubectl is not installed: `kubectl kustomize` not run")

    for p in problems:
        print("deploy: " + p)
    print("deploy: %d objects in %d files, %d problems" % (len(objects), len(listed),
                                                          len(problems)))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
