// The ECS control-plane emulator (AWS JSON 1.1): RunTask starts a real
// container on the test dockerd the way the ECS agent would (labels, name,
// hostPort 0, the overrides' environment); DescribeTasks reads Docker back;
// StopTask, DescribeTaskDefinition, RegisterTaskDefinition, CreateCluster.
// Every request's SigV4 signature is verified; faults are injected per access
// key through the unsigned control routes under /_emulator/.
'use strict';

const crypto = require('crypto');
const docker = require('./docker');
const { verify } = require('./sigv4');

const TARGET_PREFIX = 'AmazonEC2ContainerServiceV20141113.';
const BODY_MAX = 1024 * 1024;
const OVERRIDES_MAX = 8192;

class AwsError extends Error {
  constructor(status, type, message, extra) {
    super(message);
    this.status = status;
    this.type = type;
    this.extra = extra || {};
  }
}

const clientErr = (msg) => new AwsError(400, 'ClientException', msg);
const paramErr = (msg) => new AwsError(400, 'InvalidParameterException', msg);

function shortName(s) {
  const i = s.lastIndexOf('/');
  return i >= 0 ? s.slice(i + 1) : s;
}

function epoch(ms) {
  return Math.round(ms) / 1000;
}

function defaultTaskDefinition(region, account) {
  return {
    family: 'berth-tenant',
    networkMode: 'bridge',
    requiresCompatibilities: ['EC2'],
    containerDefinitions: [
      {
        name: 'app',
        image: 'berth-test/busybox:latest',
        memory: 256,
        essential: true,
        portMappings: [{ containerPort: 8000, hostPort: 0, protocol: 'tcp' }],
        command: [
          'sh',
          '-c',
          'mkdir -p /www && echo "tenant=$BERTH_TENANT db=$DB_NAME" > /www/index.html && exec httpd -f -p 8000 -h /www',
        ],
        environment: [],
      },
    ],
  };
}

class Ecs {
  constructor({ region, account, dockerHost, keys }) {
    this.region = region;
    this.account = account;
    this.sock = docker.socketPath(dockerHost);
    // Container instances: one per host of a test cluster (POST /_emulator/instances);
    // without any, every task runs on dockerHost as one instance.
    this.instances = [];
    this.placement = new Map(); // tenant (BERTH_TENANT) -> instance index
    this.nextInstance = 0;
    this.keys = keys;
    this.clusters = new Set(['default', 'berth-test']);
    this.taskDefs = new Map(); // family -> [rev1, rev2, ...]
    this.tasks = new Map(); // arn -> task state
    this.tokens = new Map(); // cluster + '\0' + clientToken -> { params, response }
    this.faults = new Map(); // access key id or '*' -> fault settings
    this.stats = { requests: 0, throttled: 0, errors5xx: 0, denied: 0, byAction: {} };
    this.register(defaultTaskDefinition(region, account));
  }

  register(td) {
    if (!td || typeof td.family !== 'string' || !/^[A-Za-z0-9_-]{1,255}$/.test(td.family)) {
      throw clientErr('Family contains invalid characters or is missing.');
    }
    if (!Array.isArray(td.containerDefinitions) || td.containerDefinitions.length === 0) {
      throw clientErr('Container list cannot be empty.');
    }
    const revs = this.taskDefs.get(td.family) || [];
    const revision = revs.length + 1;
    const out = {
      taskDefinitionArn: `arn:aws:ecs:${this.region}:${this.account}:task-definition/${td.family}:${revision}`,
      family: td.family,
      revision,
      status: 'ACTIVE',
      networkMode: td.networkMode || 'bridge',
      requiresCompatibilities: td.requiresCompatibilities || ['EC2'],
      containerDefinitions: td.containerDefinitions,
      registeredAt: epoch(Date.now()),
    };
    revs.push(out);
    this.taskDefs.set(td.family, revs);
    return out;
  }

  lookupTaskDef(ref) {
    if (typeof ref !== 'string' || ref.length === 0) throw paramErr('taskDefinition is required.');
    let s = ref;
    const m = /^arn:aws:ecs:[^:]+:\d+:task-definition\/(.+)$/.exec(ref);
    if (m) s = m[1];
    const [family, rev] = s.split(':');
    const revs = this.taskDefs.get(family);
    if (!revs) throw clientErr('Unable to describe task definition.');
    if (rev === undefined) return revs[revs.length - 1];
    const n = Number(rev);
    if (!Number.isInteger(n) || n < 1 || n > revs.length) throw clientErr('Unable to describe task definition.');
    return revs[n - 1];
  }

  cluster(name) {
    const c = shortName(name || 'default');
    if (!this.clusters.has(c)) throw new AwsError(400, 'ClusterNotFoundException', 'Cluster not found.');
    return c;
  }

  faultFor(akid) {
    return this.faults.get(akid) || this.faults.get('*') || null;
  }

  // --- actions -----------------------------------------------------------

  async RunTask(p, akid) {
    const cluster = this.cluster(p.cluster);
    const td = this.lookupTaskDef(p.taskDefinition);
    const count = p.count === undefined ? 1 : p.count;
    if (!Number.isInteger(count) || count < 1 || count > 10) throw paramErr('count must be between 1 and 10.');
    if (p.startedBy !== undefined && !/^[A-Za-z0-9_/-]{1,128}$/.test(p.startedBy)) {
      throw paramErr('startedBy must be at most 128 letters, numbers, hyphens, underscores and slashes.');
    }
    if (p.launchType !== undefined && !['EC2', 'FARGATE', 'EXTERNAL', 'MANAGED_INSTANCES'].includes(p.launchType)) {
      throw paramErr(`launchType ${p.launchType} is not valid.`);
    }
    if (p.launchType === 'FARGATE' && td.networkMode !== 'awsvpc') {
      throw paramErr('Task definition does not support launch_type FARGATE.');
    }
    if (p.overrides !== undefined && JSON.stringify(p.overrides).length > OVERRIDES_MAX) {
      throw paramErr('Container Overrides length must be at most 8192');
    }
    if (p.tags !== undefined && (!Array.isArray(p.tags) || p.tags.length > 50)) throw paramErr('Too many tags.');
    if (p.clientToken !== undefined) {
      if (typeof p.clientToken !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(p.clientToken)) {
        throw paramErr('clientToken must be 1-64 printable ASCII characters.');
      }
      const key = cluster + '\0' + p.clientToken;
      const params = JSON.stringify({ ...p, clientToken: undefined });
      const prior = this.tokens.get(key);
      if (prior) {
        if (prior.params !== params) {
          throw new AwsError(400, 'ConflictException', 'The specified client token has already been used with different parameters.', {
            resourceIds: prior.response.tasks.map((t) => t.taskArn),
          });
        }
        if (this.faultFor(akid) && this.faultFor(akid).runtask_lost) {
          throw new AwsError(500, 'ServerException', 'Service unavailable (injected after the task started)');
        }
        return prior.response;
      }
    }
    const overrides = (p.overrides && p.overrides.containerOverrides) || [];
    for (const o of overrides) {
      if (!td.containerDefinitions.some((c) => c.name === o.name)) {
        throw paramErr(`Override for container named ${o.name} is not a container in the TaskDefinition.`);
      }
    }
    const fault = this.faultFor(akid);
    if (fault && fault.runtask_failure) {
      return {
        tasks: [],
        failures: [
          {
            arn: `arn:aws:ecs:${this.region}:${this.account}:container-instance/${cluster}/0123456789abcdef0123456789abcdef`,
            reason: fault.runtask_failure,
          },
        ],
      };
    }
    const tasks = [];
    for (let i = 0; i < count; i++) tasks.push(await this.startTask(cluster, td, p, overrides, akid));
    const response = { tasks: tasks.map((t) => this.describe(t, null)), failures: [] };
    if (p.clientToken !== undefined) {
      this.tokens.set(cluster + '\0' + p.clientToken, { params: JSON.stringify({ ...p, clientToken: undefined }), response });
    }
    if (fault && fault.runtask_lost) {
      // The task runs, but the answer never reaches the caller (every retry alike).
      throw new AwsError(500, 'ServerException', 'Service unavailable (injected after the task started)');
    }
    return response;
  }

  // The instance a task goes to: the one a test pinned its tenant to, else the next in turn.
  place(cluster, overrides) {
    if (this.instances.length === 0) {
      return {
        arn: `arn:aws:ecs:${this.region}:${this.account}:container-instance/${cluster}/6d1f4ee3b2c54b4fa6b5d3e8c9a01234`,
        sock: this.sock,
      };
    }
    let tenant;
    for (const o of overrides) for (const e of o.environment || []) if (e.name === 'BERTH_TENANT') tenant = e.value;
    let i = tenant !== undefined ? this.placement.get(tenant) : undefined;
    if (i === undefined) i = this.nextInstance++ % this.instances.length;
    return this.instances[i % this.instances.length];
  }

  async startTask(cluster, td, p, overrides, akid) {
    const id = crypto.randomBytes(16).toString('hex');
    const inst = this.place(cluster, overrides);
    const arn = `arn:aws:ecs:${this.region}:${this.account}:task/${cluster}/${id}`;
    const now = Date.now();
    const task = {
      arn,
      id,
      akid,
      cluster,
      td,
      startedBy: p.startedBy,
      group: p.group || `family:${td.family}`,
      tags: p.tags || [],
      overrides: p.overrides || { containerOverrides: [] },
      createdAt: now,
      startedAt: 0,
      stoppedAt: 0,
      desiredStatus: 'RUNNING',
      stopCode: undefined,
      stoppedReason: undefined,
      version: 1,
      containers: [],
      error: null,
      sock: inst.sock,
      instanceArn: inst.arn,
    };
    for (const cd of td.containerDefinitions) {
      const o = overrides.find((x) => x.name === cd.name) || {};
      const env = {};
      for (const e of cd.environment || []) env[e.name] = e.value;
      for (const e of o.environment || []) env[e.name] = e.value;
      const exposed = {};
      const bindings = {};
      for (const pm of cd.portMappings || []) {
        const k = `${pm.containerPort}/${pm.protocol || 'tcp'}`;
        exposed[k] = {};
        // Like the agent: HostIp is never set (Docker then binds 0.0.0.0 and ::).
        bindings[k] = [{ HostIp: '', HostPort: pm.hostPort ? String(pm.hostPort) : '' }];
      }
      const name = `ecs-${td.family}-${td.revision}-${cd.name.replace(/[^A-Za-z0-9-]/g, '')}-${crypto
        .randomBytes(10)
        .toString('hex')}`;
      const labels = {
        ...(cd.dockerLabels || {}),
        'com.amazonaws.ecs.task-arn': arn,
        'com.amazonaws.ecs.container-name': cd.name,
        'com.amazonaws.ecs.task-definition-family': td.family,
        'com.amazonaws.ecs.task-definition-version': String(td.revision),
        'com.amazonaws.ecs.cluster': cluster,
      };
      const create = {
        Image: cd.image,
        Cmd: o.command || cd.command,
        Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        Labels: labels,
        ExposedPorts: exposed,
        HostConfig: {
          NetworkMode: 'bridge',
          PortBindings: bindings,
          Memory: (o.memory || cd.memory || 0) * 1024 * 1024,
        },
      };
      const r = await docker.call(task.sock, 'POST', `/containers/create?name=${name}`, create);
      if (r.status !== 201) {
        throw new AwsError(500, 'ServerException', `docker create failed: ${JSON.stringify(r.body)}`);
      }
      task.containers.push({ name: cd.name, dockerId: r.body.Id, dockerName: name, arnId: crypto.randomUUID() });
    }
    this.tasks.set(arn, task);
    // The agent starts the containers a moment after RunTask answers PENDING.
    const fault = this.faultFor(akid);
    const delay = (fault && fault.start_delay_ms) || 0;
    setTimeout(() => this.launch(task), delay);
    return task;
  }

  async launch(task) {
    for (const c of task.containers) {
      if (task.desiredStatus === 'STOPPED') return;
      try {
        const r = await docker.call(task.sock, 'POST', `/containers/${c.dockerId}/start`);
        if (r.status !== 204 && r.status !== 304) throw new Error(JSON.stringify(r.body));
      } catch (e) {
        task.error = `CannotStartContainerError: ${e.message}`;
        task.desiredStatus = 'STOPPED';
        task.stopCode = 'TaskFailedToStart';
        task.version++;
        return;
      }
    }
    task.startedAt = Date.now();
    task.version++;
  }

  // Reads Docker and renders a Task the way DescribeTasks shows it.
  async refresh(task, akid) {
    const fault = this.faultFor(akid);
    const reportDelay = (fault && fault.describe_delay_ms) || 0;
    for (const c of task.containers) {
      const r = await docker.call(task.sock, 'GET', `/containers/${c.dockerId}/json`);
      if (r.status === 404) {
        c.status = 'STOPPED';
        c.bindings = [];
        continue;
      }
      if (r.status !== 200) throw new AwsError(500, 'ServerException', `docker inspect failed: ${r.status}`);
      const st = r.body.State || {};
      if (st.Status === 'running' && task.startedAt && Date.now() - task.startedAt >= reportDelay) {
        c.status = 'RUNNING';
        c.bindings = [];
        for (const [k, list] of Object.entries((r.body.NetworkSettings || {}).Ports || {})) {
          const [port, proto] = k.split('/');
          for (const b of list || []) {
            // The agent drops the IPv6 bindings before reporting.
            if (b.HostIp === '::' || (b.HostIp || '').includes(':')) continue;
            c.bindings.push({
              bindIP: b.HostIp || '0.0.0.0',
              containerPort: Number(port),
              hostPort: Number(b.HostPort),
              protocol: proto,
            });
          }
        }
      } else if (st.Status === 'exited' || st.Status === 'dead') {
        if (c.status !== 'STOPPED') task.version++;
        c.status = 'STOPPED';
        c.exitCode = st.ExitCode;
        c.bindings = [];
      } else {
        c.status = 'PENDING';
      }
      c.runtimeId = r.body.Id;
      c.imageDigest = r.body.Image;
    }
    if (task.containers.every((c) => c.status === 'STOPPED') && !task.stoppedAt) {
      task.stoppedAt = Date.now();
      if (task.desiredStatus !== 'STOPPED') {
        task.desiredStatus = 'STOPPED';
        task.stopCode = task.stopCode || 'EssentialContainerExited';
        task.stoppedReason = 'Essential container in task exited';
      }
    }
  }

  describe(task, include) {
    let last = 'PENDING';
    const cs = task.containers.map((c) => c.status || 'PENDING');
    if (cs.every((s) => s === 'STOPPED') || (task.error && !task.startedAt)) last = 'STOPPED';
    else if (task.desiredStatus === 'STOPPED') last = 'STOPPING';
    else if (cs.every((s) => s === 'RUNNING')) last = 'RUNNING';
    const out = {
      taskArn: task.arn,
      clusterArn: `arn:aws:ecs:${this.region}:${this.account}:cluster/${task.cluster}`,
      taskDefinitionArn: task.td.taskDefinitionArn,
      containerInstanceArn: task.instanceArn,
      lastStatus: last,
      desiredStatus: task.desiredStatus,
      launchType: 'EC2',
      group: task.group,
      version: task.version,
      createdAt: epoch(task.createdAt),
      overrides: task.overrides,
      containers: task.containers.map((c) => {
        const o = {
          containerArn: `arn:aws:ecs:${this.region}:${this.account}:container/${task.cluster}/${task.id}/${c.arnId}`,
          taskArn: task.arn,
          name: c.name,
          image: task.td.containerDefinitions.find((d) => d.name === c.name).image,
          lastStatus: c.status || 'PENDING',
          networkBindings: c.bindings || [],
        };
        if (c.runtimeId && c.status && c.status !== 'PENDING') o.runtimeId = c.runtimeId;
        if (c.exitCode !== undefined && c.status === 'STOPPED') o.exitCode = c.exitCode;
        return o;
      }),
    };
    if (task.startedBy !== undefined) out.startedBy = task.startedBy;
    if (last === 'RUNNING' || last === 'STOPPING' || (last === 'STOPPED' && task.startedAt)) {
      out.startedAt = epoch(task.startedAt);
    }
    if (task.stoppedAt) out.stoppedAt = epoch(task.stoppedAt);
    if (task.stopCode) out.stopCode = task.stopCode;
    if (task.stoppedReason) out.stoppedReason = task.stoppedReason;
    if (task.error) out.stoppedReason = task.error;
    if (include && include.includes('TAGS')) out.tags = task.tags;
    return out;
  }

  findTask(cluster, ref) {
    if (typeof ref !== 'string') return null;
    const t = this.tasks.get(ref);
    if (t) return t.cluster === cluster ? t : null;
    for (const x of this.tasks.values()) if (x.id === ref && x.cluster === cluster) return x;
    return null;
  }

  async DescribeTasks(p, akid) {
    const cluster = this.cluster(p.cluster);
    if (!Array.isArray(p.tasks) || p.tasks.length === 0) throw paramErr('Tasks cannot be empty.');
    if (p.tasks.length > 100) throw paramErr('Tasks cannot have more than 100 elements.');
    const out = { tasks: [], failures: [] };
    for (const ref of p.tasks) {
      const t = this.findTask(cluster, ref);
      if (!t) {
        out.failures.push({ arn: ref, reason: 'MISSING' });
        continue;
      }
      await this.refresh(t, akid);
      out.tasks.push(this.describe(t, p.include));
    }
    return out;
  }

  async StopTask(p) {
    const cluster = this.cluster(p.cluster);
    const t = this.findTask(cluster, p.task);
    if (!t) throw new AwsError(400, 'InvalidParameterException', 'The referenced task was not found.');
    if (t.desiredStatus !== 'STOPPED') {
      t.desiredStatus = 'STOPPED';
      t.stopCode = 'UserInitiated';
      t.stoppedReason = p.reason || 'Task stopped by user';
      t.version++;
      for (const c of t.containers) {
        docker.call(t.sock, 'POST', `/containers/${c.dockerId}/stop?t=2`).catch(() => {});
      }
    }
    await this.refresh(t).catch(() => {});
    return { task: this.describe(t, null) };
  }

  // ListTasks: one page of the cluster's task ARNs, filtered as ECS does (desiredStatus RUNNING
  // by default; startedBy, family). nextToken is the index of the next task.
  async ListTasks(p) {
    const cluster = this.cluster(p.cluster);
    // As ECS: "When you specify startedBy as the filter, it must be the only filter that you use."
    if (p.startedBy !== undefined && ['containerInstance', 'family', 'serviceName', 'desiredStatus', 'launchType'].some((k) => p[k] !== undefined))
      throw paramErr('startedBy cannot be combined with other filters; it must be the only filter.');
    const desired = p.desiredStatus === undefined ? 'RUNNING' : p.desiredStatus;
    if (!['RUNNING', 'PENDING', 'STOPPED'].includes(desired)) throw paramErr(`desiredStatus ${desired} is not valid.`);
    const max = p.maxResults === undefined ? 100 : p.maxResults;
    if (!Number.isInteger(max) || max < 1 || max > 100) throw paramErr('maxResults must be between 1 and 100.');
    const from = p.nextToken === undefined ? 0 : Number(p.nextToken);
    if (!Number.isInteger(from) || from < 0) throw paramErr('Invalid nextToken.');
    const all = [...this.tasks.values()].filter(
      (t) =>
        t.cluster === cluster &&
        t.desiredStatus === desired &&
        (p.startedBy === undefined || t.startedBy === p.startedBy) &&
        (p.family === undefined || t.td.family === p.family),
    );
    const out = { taskArns: all.slice(from, from + max).map((t) => t.arn) };
    if (from + max < all.length) out.nextToken = String(from + max);
    return out;
  }

  async DescribeTaskDefinition(p) {
    return { taskDefinition: this.lookupTaskDef(p.taskDefinition), tags: [] };
  }

  async RegisterTaskDefinition(p) {
    return { taskDefinition: this.register(p), tags: [] };
  }

  async CreateCluster(p) {
    const name = p.clusterName || 'default';
    if (!/^[A-Za-z0-9_-]{1,255}$/.test(name)) throw paramErr('Invalid cluster name.');
    this.clusters.add(name);
    return { cluster: { clusterArn: `arn:aws:ecs:${this.region}:${this.account}:cluster/${name}`, clusterName: name, status: 'ACTIVE' } };
  }

  // Removes the containers of the tasks started with access key akid, or of
  // every task when akid is undefined (tests' clean-up, exit).
  async cleanup(akid) {
    const ids = [];
    for (const [arn, t] of this.tasks) {
      if (akid !== undefined && t.akid !== akid) continue;
      for (const c of t.containers) ids.push([t.sock, c.dockerId]);
      this.tasks.delete(arn);
    }
    if (akid === undefined) this.tokens.clear();
    for (const [k, v] of this.tokens) {
      if (v.response.tasks.some((t) => !this.tasks.has(t.taskArn))) this.tokens.delete(k);
    }
    await Promise.all(
      ids.map(([sock, id]) => docker.call(sock, 'DELETE', `/containers/${id}?force=true`, undefined, 10000).catch(() => {})),
    );
    return ids.length;
  }

  // --- HTTP --------------------------------------------------------------

  async handle(req, res, body) {
    const send = (status, obj, headers = {}) => {
      const data = Buffer.from(JSON.stringify(obj));
      res.writeHead(status, {
        'Content-Type': 'application/x-amz-json-1.1',
        'Content-Length': data.length,
        'x-amzn-RequestId': crypto.randomUUID(),
        ...headers,
      });
      res.end(data);
    };
    const sendErr = (e) => send(e.status, { __type: e.type, message: e.message, ...e.extra });

    if (req.url.startsWith('/_emulator/')) return this.control(req, res, body, send);
    this.stats.requests++;
    if (req.method !== 'POST' || req.url.split('?')[0] !== '/') {
      return sendErr(new AwsError(404, 'UnknownOperationException', 'Unknown operation'));
    }
    const v = await verify(req, body, this.keys, 'ecs');
    if (!v.ok) {
      this.stats.denied++;
      return sendErr(new AwsError(v.status, v.type, v.message));
    }
    const target = req.headers['x-amz-target'] || '';
    const action = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
    const actions = ['RunTask', 'DescribeTasks', 'StopTask', 'ListTasks', 'DescribeTaskDefinition', 'RegisterTaskDefinition', 'CreateCluster'];
    if (!actions.includes(action)) {
      return sendErr(new AwsError(400, 'UnknownOperationException', `Unknown operation ${target}`));
    }
    if (!/^application\/x-amz-json-1\.1\b/.test(req.headers['content-type'] || '')) {
      return sendErr(new AwsError(400, 'SerializationException', 'Content-Type must be application/x-amz-json-1.1'));
    }
    this.stats.byAction[action] = (this.stats.byAction[action] || 0) + 1;
    const fault = this.faultFor(v.accessKeyId);
    if (fault) {
      if (fault.latency_ms) await new Promise((r) => setTimeout(r, fault.latency_ms));
      const actOk = !fault.actions || fault.actions.includes(action);
      if (actOk && fault.throttle && Math.random() < fault.throttle) {
        this.stats.throttled++;
        return sendErr(new AwsError(400, 'ThrottlingException', 'Rate exceeded'));
      }
      if (actOk && fault.error5xx && Math.random() < fault.error5xx) {
        this.stats.errors5xx++;
        return sendErr(new AwsError(500, 'ServerException', 'Service unavailable (injected)'));
      }
    }
    let p;
    try {
      p = body.length ? JSON.parse(body.toString('utf8')) : {};
      if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new Error('not an object');
    } catch (e) {
      return sendErr(new AwsError(400, 'SerializationException', 'Request body is not valid JSON'));
    }
    try {
      send(200, await this[action](p, v.accessKeyId));
    } catch (e) {
      if (e instanceof AwsError) return sendErr(e);
      return sendErr(new AwsError(500, 'ServerException', String(e.message || e)));
    }
  }

  async control(req, res, body, send) {
    const path = req.url.split('?')[0];
    let p = {};
    try {
      if (body.length) p = JSON.parse(body.toString('utf8'));
    } catch (e) {
      return send(400, { error: 'bad JSON' });
    }
    if (req.method === 'POST' && path === '/_emulator/keys') {
      if (typeof p.access_key_id !== 'string' || typeof p.secret_access_key !== 'string') {
        return send(400, { error: 'access_key_id and secret_access_key are required' });
      }
      this.keys.set(p.access_key_id, {
        secret: p.secret_access_key,
        token: p.session_token,
        expiresAt: p.expires_at_ms || 0,
      });
      return send(200, { ok: true });
    }
    if (req.method === 'POST' && path === '/_emulator/faults') {
      // {access_key_id?: '*' default, throttle: 0..1, error5xx: 0..1, latency_ms,
      //  describe_delay_ms, start_delay_ms, runtask_failure, runtask_lost, actions: [..]}; {} clears.
      const k = p.access_key_id || '*';
      delete p.access_key_id;
      if (Object.keys(p).length === 0) this.faults.delete(k);
      else this.faults.set(k, p);
      return send(200, { ok: true });
    }
    if (req.method === 'GET' && path.startsWith('/_emulator/keys/')) {
      // The test DynamoDB (dynalite.js) checks signatures with the same keys, session ones included.
      const k = this.keys.get(decodeURIComponent(path.slice('/_emulator/keys/'.length)));
      if (!k) return send(404, { error: 'no such key' });
      return send(200, { secret_access_key: k.secret, session_token: k.token, expires_at_ms: k.expiresAt });
    }
    if (req.method === 'POST' && path === '/_emulator/instances') {
      // {instances: [{arn, docker_host}], placement: {tenant: index}}: the cluster's hosts.
      if (!Array.isArray(p.instances)) return send(400, { error: 'instances is required' });
      try {
        this.instances = p.instances.map((x) => ({ arn: String(x.arn), sock: docker.socketPath(x.docker_host) }));
      } catch (e) {
        return send(400, { error: String(e.message) });
      }
      this.placement = new Map(Object.entries(p.placement || {}));
      this.nextInstance = 0;
      return send(200, { ok: true, instances: this.instances.length });
    }
    if (req.method === 'POST' && path === '/_emulator/placement') {
      // {tenant: index, ...}: where the next tasks of these tenants go.
      for (const [k, v] of Object.entries(p)) this.placement.set(k, Number(v));
      return send(200, { ok: true });
    }
    if (req.method === 'GET' && path === '/_emulator/stats') return send(200, this.stats);
    if (req.method === 'GET' && path === '/_emulator/tasks') {
      return send(200, {
        tasks: [...this.tasks.values()].map((t) => ({
          taskArn: t.arn,
          startedBy: t.startedBy,
          desiredStatus: t.desiredStatus,
          containerInstanceArn: t.instanceArn,
          containers: t.containers.map((c) => c.dockerId),
        })),
      });
    }
    if (req.method === 'POST' && path === '/_emulator/cleanup') {
      return send(200, { removed: await this.cleanup(p.access_key_id) });
    }
    return send(404, { error: 'no such control route' });
  }
}

module.exports = { Ecs };
