import { Aspects, CfnOutput, CfnParameter, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { ICommandHooks } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as triggers from 'aws-cdk-lib/triggers';
import type { Construct } from 'constructs';
import { DeliveryWorkflow } from './constructs/delivery-workflow.js';
import { EicEndpointAccess, type EicEndpointAccessProps } from './constructs/eic-endpoint.js';
import { HandlerFunction, type FunctionNetwork } from './constructs/handler-function.js';
import { HostCommandDocument } from './constructs/host-command-document.js';
import { OpsMonitoring } from './constructs/ops-monitoring.js';
import { AcknowledgeIntendedWildcards } from './nag-acknowledgements.js';
import { STEP_LAMBDA_TIMEOUTS, type StepName } from './workflow.js';

export interface PluginDeliveryStackProps extends StackProps {
  /**
   * ARN of an existing Secrets Manager secret holding the PostgreSQL connection (the database is
   * not created here). From context `databaseSecretArn`; when absent the template asks for it as
   * the `DatabaseSecretArn` parameter at deploy time.
   */
  databaseSecretArn?: string;
  /** Optional secret with a GitHub token for private `github://` sources (context `githubTokenSecretArn`). */
  githubTokenSecretArn?: string;
  /** Secret holding the admin bearer token (context `adminTokenSecretArn`); without it no admin token works. */
  adminTokenSecretArn?: string;
  /** The OS user EC2 Instance Connect pushes keys for and delivery logs in as (context `eicOsUser`, default `ubuntu`). */
  eicOsUser?: string;
  /**
   * Runs every function in existing VPC subnets (context `subnetIds`, `securityGroupIds`, both
   * comma-separated): needed when PostgreSQL is private, and for EC2 Instance Connect, which SSHes
   * to instances' private IPs. The subnets need a NAT gateway or VPC endpoints for the AWS APIs
   * the functions call, and the instances must accept SSH from the security groups.
   */
  network?: { subnetIds: string[]; securityGroupIds: string[] };
  /**
   * Where the database is when the secret does not say (RDS-managed master secrets hold only
   * `username` and `password`): contexts `databaseHost`, `databasePort`, `databaseName`.
   */
  database?: { host?: string; port?: string; name?: string };
  /** An RDS Proxy endpoint (context `rdsProxyEndpoint`): every function connects through it, 2 connections per container. */
  rdsProxyEndpoint?: string;
  /** Customer-managed KMS key the secrets are encrypted with (context `secretsKmsKeyArn`): readers get `kms:Decrypt` via Secrets Manager. */
  secretsKmsKeyArn?: string;
  /** Tag key every workspace instance carries (context `workspaceTagKey`); hosts without it are out of reach. */
  workspaceTagKey?: string;
  /** `SHA256:…` host key fingerprints EC2 Instance Connect delivery accepts (context `eicHostKeyFingerprints`, comma-separated). */
  eicHostKeyFingerprints?: string;
  /** With no fingerprints pinned, accept any host key (context `eicAcceptAnyHostKey=true`); otherwise EIC delivery refuses. */
  eicAcceptAnyHostKey?: boolean;
  /**
   * EC2 Instance Connect Endpoint tunnels (contexts `eicEndpointIds`, `eicPrivateIpCidrs`,
   * `eicEndpointSubnetIds`, `eicVpcId`, `eicInstanceSecurityGroupId`, `eicConnection`): see
   * infra/constructs/eic-endpoint.ts.
   */
  eicEndpoint?: EicEndpointAccessProps;
  /** Stage throttling (contexts `throttleRateLimit`, `throttleBurstLimit`). */
  throttle?: { rateLimit?: number; burstLimit?: number };
  /**
   * Reserved concurrency (contexts `apiReservedConcurrency`, `stepReservedConcurrency`): each step
   * function is capped so a burst of workflows cannot take the concurrency the API needs.
   */
  reservedConcurrency?: { api?: number; step?: number };
  /** Install and uninstall operations one org may have in flight (context `maxOperationsPerOrg`, default 50): past it 429 too_many_operations. */
  maxOperationsPerOrg?: number;
  /** Ship source maps (context `sourceMaps=true`). */
  sourceMaps?: boolean;
  /** Subscribed to the ops alarm topic (context `alarmEmail`). */
  alarmEmail?: string;
  /** How often the cleanup runs (SPEC §7: every 15 minutes). */
  cleanupInterval?: Duration;
  /** `false` deploys placeholder code instead of bundling the handlers: for tests only. */
  bundle?: boolean;
}

/**
 * The plugin delivery service: HTTP API → API Lambda → Standard workflow of step Lambdas, the
 * staging and registry buckets, and the scheduled cleanup.
 */
export class PluginDeliveryStack extends Stack {
  constructor(scope: Construct, id: string, props: PluginDeliveryStackProps = {}) {
    super(scope, id, props);

    const databaseSecretArn = props.databaseSecretArn ?? databaseSecretParameter(this).valueAsString;
    const databaseSecret = secretsmanager.Secret.fromSecretCompleteArn(this, 'DatabaseSecret', databaseSecretArn);
    const githubTokenSecret = props.githubTokenSecretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'GithubTokenSecret', props.githubTokenSecretArn)
      : undefined;

    const bucketDefaults: s3.BucketProps = {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    };
    // Staged tarballs are handed out by presigned URL and only needed until delivered (SPEC §3),
    // so the bucket and what is in it go with the stack.
    const stagingBucket = new s3.Bucket(this, 'StagingBucket', {
      ...bucketDefaults,
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
      // Only `staged/` expires: `revisions/` holds the kept revisions' tarballs (SPEC §9), which
      // the cleanup deletes once no kept revision names them.
      lifecycleRules: [
        { id: 'expire-staged-plugins', prefix: 'staged/', expiration: Duration.days(1) },
        // A host's inventory (SPEC §12) is read back at once and deleted; one left behind goes here.
        { id: 'expire-inventories', prefix: 'inventories/', expiration: Duration.days(1) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    // The curated registry (`local://` sources) outlives staging and the stack; a replaced or
    // deleted tarball can be restored for 30 days.
    const registryBucket = new s3.Bucket(this, 'RegistryBucket', {
      ...bucketDefaults,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'keep-old-versions-30-days', noncurrentVersionExpiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    for (const bucket of [stagingBucket, registryBucket]) {
      Validations.of(bucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason:
          "reads and writes come only from the stack's functions (logged by them with the operation id) and presigned URLs they issue; CloudTrail data events cover audits",
      });
    }
    Aspects.of(this).add(new AcknowledgeIntendedWildcards());

    const hostDocument = new HostCommandDocument(this, 'HostCommandDocument');
    const database = props.database ?? {};
    const common = {
      DATABASE_SECRET_ARN: databaseSecretArn,
      // The Node.js 22 runtime's bundle of Amazon roots, RDS and RDS Proxy included; the server is verified against it.
      DATABASE_CA_FILE: '/var/runtime/ca-cert.pem',
      // Lambda scales by containers, each with its own pool: keep each small (the proxy multiplexes).
      DATABASE_POOL_MAX: props.rdsProxyEndpoint ? '2' : '1',
      ...(database.host && { DATABASE_HOST: database.host }),
      ...(database.port && { DATABASE_PORT: database.port }),
      ...(database.name && { DATABASE_NAME: database.name }),
      ...(props.rdsProxyEndpoint && { DATABASE_PROXY_ENDPOINT: props.rdsProxyEndpoint }),
      STAGING_BUCKET: stagingBucket.bucketName,
      REGISTRY_BUCKET: registryBucket.bucketName,
      ...(props.githubTokenSecretArn && { GITHUB_TOKEN_SECRET_ARN: props.githubTokenSecretArn }),
      ...(props.adminTokenSecretArn && { ADMIN_TOKEN_SECRET_ARN: props.adminTokenSecretArn }),
    };
    const network = props.network && functionNetwork(props.network);
    const stepConcurrency = positive(props.reservedConcurrency?.step, 20);
    type FnOptions = { timeout?: Duration; memorySize?: number; reservedConcurrentExecutions?: number; commandHooks?: ICommandHooks };
    const fn = (id: string, handler: string, description: string, options: FnOptions = {}) => {
      const f = new HandlerFunction(this, id, {
        handler,
        description,
        environment: common,
        bundle: props.bundle,
        network,
        sourceMaps: props.sourceMaps,
        ...options,
      });
      acknowledgeFunctionFindings(f, network !== undefined);
      return f;
    };
    const step = (name: StepName, handler: string, description: string, memorySize?: number) =>
      fn(`${name}Function`, handler, description, { timeout: STEP_LAMBDA_TIMEOUTS[name], memorySize, reservedConcurrentExecutions: stepConcurrency });

    const steps: Record<StepName, HandlerFunction> = {
      Stage: step('Stage', 'stage', 'Fetches, validates and stages a plugin archive in S3', 1024),
      CheckAllowlist: step('CheckAllowlist', 'check-allowlist', "Checks the plugin against the org's allowlist"),
      Deliver: step('Deliver', 'deliver', 'Installs the staged plugin on the workspace host (SSM or EC2 Instance Connect)', 512),
      Remove: step('Remove', 'remove', 'Uninstalls a plugin from the workspace host', 512),
      Restart: step('Restart', 'restart', 'Restarts the workspace runtime when the change needs it'),
      VerifyHealth: step('VerifyHealth', 'verify-health', 'Runs the health check after a restart; the host puts back what was there when it fails'),
      Record: step('Record', 'record', 'Records the finished operation, its revision and the installed plugin'),
      Plan: step('Plan', 'plan', 'Says what an install would change, without touching the host'),
      Rollout: step('Rollout', 'rollout', 'Drives a fleet rollout: stages once, then starts installs as its rate controls allow', 1024),
      RecordFailure: step('RecordFailure', 'record-failure', 'Records a failed operation with its documented error'),
      Inventory: step('Inventory', 'inventory', 'Lists what the workspace host really has under plugins/ and holds it against the records', 512),
      Repair: step('Repair', 'repair', 'Reinstalls, adopts or cleans what a verify found drifted on the workspace host', 512),
    };
    const workflow = new DeliveryWorkflow(this, 'Workflow', steps);
    const stateMachine = workflow.stateMachine;
    // A rollout's driver starts its targets' installs (and hands itself over) on its own state
    // machine: by the ARN formatted from the machine's name, since a reference would be a cycle.
    steps.Rollout.addEnvironment('STATE_MACHINE_ARN', workflow.stateMachineArnByName);
    steps.Rollout.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [workflow.stateMachineArnByName] }));

    // API Gateway HTTP APIs stop waiting after 30 s; `Prefer: wait` is at most 25 s.
    const api = fn('ApiFunction', 'api', 'Plugin delivery HTTP API', {
      timeout: Duration.seconds(29),
      memorySize: 1024,
      reservedConcurrentExecutions: positive(props.reservedConcurrency?.api, 50),
    });
    // One cleanup at a time: a slow run never overlaps the next one.
    const cleanup = fn('CleanupFunction', 'cleanup', 'Starts the due scheduled uninstalls', { timeout: Duration.minutes(5), reservedConcurrentExecutions: 1 });
    const reconcileFn = fn('ReconcileFunction', 'reconcile', 'Closes operations whose execution ended without closing them', { timeout: Duration.minutes(10) });
    const migrateFn = fn('MigrateFunction', 'migrate', 'Applies pending database migrations before the functions update', {
      timeout: Duration.minutes(5),
      reservedConcurrentExecutions: 1,
      commandHooks: MIGRATION_FILES,
    });
    for (const f of [api, cleanup]) f.addEnvironment('STATE_MACHINE_ARN', stateMachine.stateMachineArn);
    api.addEnvironment('PLUGIN_MAX_OPERATIONS_PER_ORG', String(positive(props.maxOperationsPerOrg, 50)));

    // Least privilege: each function gets exactly what its job needs.
    const secretReaders = [api, cleanup, reconcileFn, migrateFn, ...Object.values(steps)];
    for (const f of secretReaders) databaseSecret.grantRead(f);
    if (props.adminTokenSecretArn) {
      const adminTokenSecret = secretsmanager.Secret.fromSecretCompleteArn(this, 'AdminTokenSecret', props.adminTokenSecretArn);
      adminTokenSecret.grantRead(api);
    }
    if (props.secretsKmsKeyArn) {
      const decrypt = new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [props.secretsKmsKeyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${this.region}.amazonaws.com` } },
      });
      for (const f of secretReaders) f.addToRolePolicy(decrypt);
    }
    const staged = stagingBucket.arnForObjects('staged/*');
    for (const f of [api, steps.Stage, steps.Rollout]) {
      f.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:GetObject'], resources: [staged] }));
      f.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [registryBucket.arnForObjects('registry/*')] }));
      f.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [registryBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': ['registry/*'] } },
        }),
      );
      githubTokenSecret?.grantRead(f);
    }
    // Kept revisions' tarballs (SPEC §9): Record and RecordFailure copy a delivered one there, a
    // rollback's Stage finds it (or stages the source again into it), Deliver hands it out.
    const kept = stagingBucket.arnForObjects('revisions/*');
    for (const f of [steps.Record, steps.RecordFailure]) {
      f.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [staged] }));
      f.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [kept] }));
    }
    // The rollout driver stages once and keeps that tarball where every target's install reads it.
    for (const f of [steps.Stage, steps.Rollout]) f.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [kept] }));
    // The cleanup (scheduled, or run by the admin through the API) deletes a tarball no kept revision names.
    for (const f of [cleanup, api]) {
      f.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [stagingBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': ['revisions/*'] } },
        }),
      );
      f.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:DeleteObject'], resources: [kept] }));
    }
    // Presigned GET URLs are signed with Deliver's role; a failed operation's staged object goes at once.
    steps.Deliver.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [staged, kept] }));
    // Drift (SPEC §12): the host uploads its inventory by a PUT URL Inventory signs, Inventory and
    // Repair read it back and delete it; a reinstall hands out kept tarballs as Deliver does.
    const inventories = stagingBucket.arnForObjects('inventories/*');
    for (const f of [steps.Inventory, steps.Repair]) {
      f.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:DeleteObject'], resources: [inventories] }));
    }
    steps.Inventory.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [inventories] }));
    steps.Repair.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [kept] }));
    steps.RecordFailure.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:DeleteObject'], resources: [staged] }));

    const eicOsUser = props.eicOsUser ?? 'ubuntu';
    const workspaceTagKey = props.workspaceTagKey ?? 'molecule:workspace';
    const eicEndpoints = new EicEndpointAccess(this, 'EicEndpoint', props.eicEndpoint);
    // Reconcile asks hosts what they have, over the same transports as the host steps.
    for (const f of [steps.Deliver, steps.Remove, steps.Restart, steps.VerifyHealth, steps.Inventory, steps.Repair, reconcileFn]) {
      f.addEnvironment('PLUGIN_EIC_OS_USER', eicOsUser);
      f.addEnvironment('PLUGIN_SSM_DOCUMENT', hostDocument.documentName);
      if (props.eicHostKeyFingerprints) f.addEnvironment('PLUGIN_EIC_HOST_KEY_FINGERPRINTS', props.eicHostKeyFingerprints);
      if (props.eicAcceptAnyHostKey) f.addEnvironment('PLUGIN_EIC_ACCEPT_ANY_HOST_KEY', 'true');
      grantHostAccess(this, f, { eicOsUser, workspaceTagKey, documentArn: hostDocument.documentArn });
      eicEndpoints.grantTunnels(f);
    }
    stateMachine.grantStartExecution(api);
    stateMachine.grantStartExecution(cleanup);
    // The API and the cleanup reconcile an operation with its execution.
    for (const f of [api, cleanup]) stateMachine.grantExecution(f, 'states:DescribeExecution');

    // Migrations run (and must succeed) before any function that uses the schema is updated.
    new triggers.Trigger(this, 'MigrateOnDeploy', {
      handler: migrateFn,
      timeout: Duration.minutes(5),
      executeOnHandlerChange: true,
      executeBefore: [api, cleanup, reconcileFn, ...Object.values(steps)],
    });

    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.DESTROY });
    const httpApi = new apigw.HttpApi(this, 'HttpApi', {
      description: 'Molecule plugin delivery',
      createDefaultStage: false,
    });
    new apigw.HttpStage(this, 'DefaultStage', {
      httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: positive(props.throttle?.rateLimit, 100), burstLimit: positive(props.throttle?.burstLimit, 200) },
      accessLogSettings: { destination: new apigw.LogGroupLogDestination(accessLogs), format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)) },
    });
    // One authentication, done once: the API function checks the bearer token itself (401
    // `unauthorized` with the contract body and `WWW-Authenticate: Bearer`), so a request costs one
    // invocation and one token lookup, and no API Gateway authorizer answers with a body of its own.
    const apiIntegration = new HttpLambdaIntegration('Api', api);
    const routes = [
      ...httpApi.addRoutes({ path: '/health', methods: [apigw.HttpMethod.GET], integration: apiIntegration }),
      ...httpApi.addRoutes({ path: '/{proxy+}', methods: [apigw.HttpMethod.ANY], integration: apiIntegration }),
    ];
    for (const route of routes)
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason: "authentication is the API function's bearer check; every route but /health, /ops and /openapi.json requires it",
      });

    // A cleanup run EventBridge could not deliver after its retries is kept for two weeks, not lost.
    const cleanupDeadLetters = new sqs.Queue(this, 'CleanupDeadLetters', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    for (const id of ['AwsSolutions-SQS3', 'Serverless-SQSRedrivePolicy']) {
      Validations.of(cleanupDeadLetters).acknowledge({ id, reason: 'this queue is the dead-letter queue; nothing consumes it automatically' });
    }
    new events.Rule(this, 'CleanupSchedule', {
      description: 'Runs the plugin cleanup (SPEC §7)',
      schedule: events.Schedule.rate(props.cleanupInterval ?? Duration.minutes(15)),
      targets: [new targets.LambdaFunction(cleanup, { retryAttempts: 2, deadLetterQueue: cleanupDeadLetters })],
    });

    reconcileEndedExecutions(this, {
      stateMachine,
      interval: props.cleanupInterval ?? Duration.minutes(15),
      fn: reconcileFn,
    });

    const monitoring = new OpsMonitoring(this, 'Monitoring', {
      stateMachine,
      functions: this.node.findAll().filter((c): c is HandlerFunction => c instanceof HandlerFunction),
      httpApi,
      alarmEmail: props.alarmEmail,
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: monitoring.topic.topicArn });
    new CfnOutput(this, 'ApiUrl', { value: httpApi.apiEndpoint });
    new CfnOutput(this, 'StateMachineArn', { value: stateMachine.stateMachineArn });
    new CfnOutput(this, 'StagingBucketName', { value: stagingBucket.bucketName });
    new CfnOutput(this, 'RegistryBucketName', { value: registryBucket.bucketName });
    new CfnOutput(this, 'HostCommandDocumentName', { value: hostDocument.documentName });
  }
}

/**
 * lambdas/store/migrate.ts reads `./migrations` beside itself: compile the migrations next to the
 * bundle (ES modules, so the runtime imports them without a TypeScript loader).
 */
export const MIGRATION_FILES: ICommandHooks = {
  beforeBundling: () => [],
  beforeInstall: () => [],
  afterBundling: (inputDir, outputDir) => [
    `"${inputDir}/node_modules/.bin/esbuild" "${inputDir}"/lambdas/store/migrations/*.ts --outdir="${outputDir}/migrations" ` +
      '--format=esm --platform=node --target=node22 --out-extension:.js=.mjs --log-level=warning',
  ],
};

/**
 * One JSON object per request. HTTP APIs cannot log response headers, so the operation id is not
 * here: the API function logs one line per request with the same `requestId` ($context.requestId,
 * which it reads from the event) and the `operationId`, so the two join on `requestId`.
 */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  integrationRequestId: '$context.integration.requestId',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTime',
  method: '$context.httpMethod',
  path: '$context.path',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
};

/** What cdk-nag flags on every function of the stack, with why it stays. */
function acknowledgeFunctionFindings(fn: HandlerFunction, inVpc: boolean): void {
  const acknowledge = (id: string, reason: string) => Validations.of(fn).acknowledge({ id, reason });
  const runtime = 'nodejs22.x is the Node.js line the service is built and tested on (CI, bench); moving to a newer one is its own change';
  acknowledge('AwsSolutions-L1', runtime);
  acknowledge('Serverless-LambdaLatestVersion', runtime);
  acknowledge(
    'Serverless-LambdaDLQ',
    'invoked synchronously (API Gateway, Step Functions, the deploy Trigger) or by EventBridge, whose target has the dead-letter queue',
  );
  const managed = (name: string) => `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/${name}]`;
  acknowledge(managed('AWSLambdaBasicExecutionRole'), 'the AWS-managed policy only lets the function write its own logs');
  if (inVpc) acknowledge(managed('AWSLambdaVPCAccessExecutionRole'), 'the AWS-managed policy only manages the network interfaces the function runs on');
}

function positive(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`expected a positive integer, got ${value}`);
  return value;
}

/**
 * Issue #7: no execution may end leaving its operation RUNNING. The Reconcile function closes the
 * operation of an execution that failed, timed out or was aborted without closing it (its
 * "Execution Status Change" event), after asking the host what it has; the same function sweeps
 * every stale operation on the cleanup's schedule. Undeliverable events land in a queue.
 */
function reconcileEndedExecutions(
  stack: Stack,
  {
    stateMachine,
    interval,
    fn,
  }: {
    stateMachine: {
      stateMachineArn: string;
      grantExecution(f: lambda.IFunction, ...actions: string[]): unknown;
      grantStartExecution(f: lambda.IFunction): unknown;
    };
    interval: Duration;
    fn: lambda.Function;
  },
): void {
  fn.addEnvironment('STATE_MACHINE_ARN', stateMachine.stateMachineArn);
  stateMachine.grantExecution(fn, 'states:DescribeExecution');
  // and gives a rollout whose driver execution was lost a new one.
  stateMachine.grantStartExecution(fn);
  const deadLetterQueue = new sqs.Queue(stack, 'ReconcileDeadLetters', {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  for (const id of ['AwsSolutions-SQS3', 'Serverless-SQSRedrivePolicy']) {
    Validations.of(deadLetterQueue).acknowledge({ id, reason: 'this queue is the dead-letter queue; nothing consumes it automatically' });
  }
  const target = new targets.LambdaFunction(fn, { retryAttempts: 4, maxEventAge: Duration.hours(2), deadLetterQueue });
  new events.Rule(stack, 'ExecutionEnded', {
    description: 'Reconciles the operation of a delivery execution that ended abnormally',
    eventPattern: {
      source: ['aws.states'],
      detailType: ['Step Functions Execution Status Change'],
      detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [stateMachine.stateMachineArn] },
    },
    targets: [target],
  });
  new events.Rule(stack, 'ReconcileSchedule', {
    description: 'Sweeps operations whose execution ended without closing them',
    schedule: events.Schedule.rate(interval),
    targets: [target],
  });
}

function functionNetwork({ subnetIds, securityGroupIds }: NonNullable<PluginDeliveryStackProps['network']>): FunctionNetwork {
  if (subnetIds.length === 0 || securityGroupIds.length === 0) {
    throw new Error('running in a VPC needs both subnetIds and securityGroupIds');
  }
  return { subnetIds, securityGroupIds };
}

function databaseSecretParameter(stack: Stack): CfnParameter {
  const parameter = new CfnParameter(stack, 'DatabaseSecretArn', {
    type: 'String',
    description: 'ARN of the Secrets Manager secret with the PostgreSQL connection',
    allowedPattern: '^arn:aws[a-z-]*:secretsmanager:.+',
  });
  Validations.of(stack).acknowledge({ id: 'CloudFormation-Validate::W2509', reason: 'the parameter is an ARN, not the secret itself' });
  return parameter;
}

/**
 * Reaching a workspace host: the project's SSM document, or EC2 Instance Connect (a one-time key
 * for the delivery OS user only, then SSH to the instance's private IP), and only on instances
 * tagged as workspaces. SSH needs the function in the instances' VPC; see infra/README.md.
 */
function grantHostAccess(stack: Stack, fn: lambda.IFunction, options: { eicOsUser: string; workspaceTagKey: string; documentArn: string }): void {
  // Instance ids are not known to the stack: the tag condition is what scopes these.
  const instances = stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' });
  const tagged = { StringLike: { [`aws:ResourceTag/${options.workspaceTagKey}`]: '*' } };
  // SendCommand is authorized against the document and the instance separately, so each has its statement.
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ssm:SendCommand'], resources: [options.documentArn] }));
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ssm:SendCommand'], resources: [instances], conditions: tagged }));
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ec2-instance-connect:SendSSHPublicKey'],
      resources: [instances],
      conditions: { ...tagged, StringEquals: { 'ec2:osuser': options.eicOsUser } },
    }),
  );
  // Read-only calls without resource-level permissions (DescribeInstances, DescribeInstanceInformation)
  // and calls on command ids that only exist at run time (GetCommandInvocation, and CancelCommand,
  // which stops a command past its deadline).
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ssm:GetCommandInvocation', 'ssm:CancelCommand', 'ssm:DescribeInstanceInformation', 'ec2:DescribeInstances'],
      resources: ['*'],
    }),
  );
}
