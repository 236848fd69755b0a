import { CfnOutput, CfnParameter, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaAuthorizer, HttpLambdaResponseType } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { DeliveryWorkflow } from './constructs/delivery-workflow.js';
import { HandlerFunction, type FunctionNetwork } from './constructs/handler-function.js';
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
    // Staged tarballs are handed out by presigned URL and only needed until delivered (SPEC §3).
    const stagingBucket = new s3.Bucket(this, 'StagingBucket', {
      ...bucketDefaults,
      removalPolicy: RemovalPolicy.DESTROY,
      lifecycleRules: [{ id: 'expire-staged-plugins', expiration: Duration.days(1), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
    });
    // The curated registry (`local://` sources) outlives staging, so it has its own bucket.
    const registryBucket = new s3.Bucket(this, 'RegistryBucket', {
      ...bucketDefaults,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const common = {
      DATABASE_SECRET_ARN: databaseSecretArn,
      STAGING_BUCKET: stagingBucket.bucketName,
      REGISTRY_BUCKET: registryBucket.bucketName,
      ...(props.githubTokenSecretArn && { GITHUB_TOKEN_SECRET_ARN: props.githubTokenSecretArn }),
      ...(props.adminTokenSecretArn && { ADMIN_TOKEN_SECRET_ARN: props.adminTokenSecretArn }),
    };
    const network = props.network && functionNetwork(props.network);
    const fn = (id: string, handler: string, description: string, options: { timeout?: Duration; memorySize?: number } = {}) =>
      new HandlerFunction(this, id, { handler, description, environment: common, bundle: props.bundle, network, ...options });
    const step = (name: StepName, handler: string, description: string, memorySize?: number) =>
      fn(`${name}Function`, handler, description, { timeout: STEP_LAMBDA_TIMEOUTS[name], memorySize });

    const steps: Record<StepName, HandlerFunction> = {
      Stage: step('Stage', 'stage', 'Fetches, validates and stages a plugin archive in S3', 1024),
      CheckAllowlist: step('CheckAllowlist', 'check-allowlist', "Checks the plugin against the org's allowlist"),
      Deliver: step('Deliver', 'deliver', 'Installs the staged plugin on the workspace host (SSM or EC2 Instance Connect)', 512),
      Remove: step('Remove', 'remove', 'Uninstalls a plugin from the workspace host', 512),
      Restart: step('Restart', 'restart', 'Restarts the workspace runtime when the change needs it'),
      Record: step('Record', 'record', 'Records the finished operation and the installed plugin'),
      RecordFailure: step('RecordFailure', 'record-failure', 'Records a failed operation with its documented error'),
    };
    const workflow = new DeliveryWorkflow(this, 'Workflow', steps);
    const stateMachine = workflow.stateMachine;

    // API Gateway HTTP APIs stop waiting after 30 s; `Prefer: wait` is at most 25 s.
    const api = fn('ApiFunction', 'api', 'Plugin delivery HTTP API', { timeout: Duration.seconds(29), memorySize: 1024 });
    const authorizer = fn('AuthorizerFunction', 'authorizer', 'Validates bearer tokens for the HTTP API', { timeout: Duration.seconds(10) });
    const cleanup = fn('CleanupFunction', 'cleanup', 'Starts the due scheduled uninstalls', { timeout: Duration.minutes(5) });
    for (const f of [api, cleanup]) f.addEnvironment('STATE_MACHINE_ARN', stateMachine.stateMachineArn);

    // Least privilege: each function gets exactly what its job needs.
    for (const f of [api, authorizer, cleanup, ...Object.values(steps)]) databaseSecret.grantRead(f);
    if (props.adminTokenSecretArn) {
      const adminTokenSecret = secretsmanager.Secret.fromSecretCompleteArn(this, 'AdminTokenSecret', props.adminTokenSecretArn);
      for (const f of [api, authorizer]) adminTokenSecret.grantRead(f);
    }
    for (const f of [api, steps.Stage]) {
      stagingBucket.grantReadWrite(f);
      registryBucket.grantRead(f);
      githubTokenSecret?.grantRead(f);
    }
    stagingBucket.grantRead(steps.Deliver); // presigned GET URLs are signed with Deliver's role
    stagingBucket.grantDelete(steps.RecordFailure); // a failed operation's staged object goes at once
    const eicOsUser = props.eicOsUser ?? 'ubuntu';
    for (const f of [steps.Deliver, steps.Remove, steps.Restart]) {
      f.addEnvironment('PLUGIN_EIC_OS_USER', eicOsUser);
      grantHostAccess(this, f, eicOsUser);
    }
    stateMachine.grantStartExecution(api);
    stateMachine.grantStartExecution(cleanup);
    // Operation status (`Prefer: wait`, operation views) reads executions of this machine only.
    stateMachine.grantExecution(api, 'states:DescribeExecution', 'states:GetExecutionHistory');
    stateMachine.grant(api, 'states:ListExecutions');

    const httpApi = new apigw.HttpApi(this, 'HttpApi', {
      description: 'Molecule plugin delivery',
      defaultAuthorizer: new HttpLambdaAuthorizer('BearerToken', authorizer, {
        responseTypes: [HttpLambdaResponseType.SIMPLE],
        identitySource: ['$request.header.Authorization'],
        // Revoked tokens stop working at once.
        resultsCacheTtl: Duration.seconds(0),
      }),
    });
    const apiIntegration = new HttpLambdaIntegration('Api', api);
    httpApi.addRoutes({ path: '/health', methods: [apigw.HttpMethod.GET], integration: apiIntegration, authorizer: new apigw.HttpNoneAuthorizer() });
    httpApi.addRoutes({ path: '/{proxy+}', methods: [apigw.HttpMethod.ANY], integration: apiIntegration });

    new events.Rule(this, 'CleanupSchedule', {
      description: 'Runs the plugin cleanup (SPEC §7)',
      schedule: events.Schedule.rate(props.cleanupInterval ?? Duration.minutes(15)),
      targets: [new targets.LambdaFunction(cleanup, { retryAttempts: 2 })],
    });

    reconcileEndedExecutions(this, {
      stateMachine, interval: props.cleanupInterval ?? Duration.minutes(15), eicOsUser,
      fn: fn('ReconcileFunction', 'reconcile', 'Closes operations whose execution ended without closing them', { timeout: Duration.minutes(10) }),
      grantSecret: (f) => databaseSecret.grantRead(f),
    });

    new CfnOutput(this, 'ApiUrl', { value: httpApi.apiEndpoint });
    new CfnOutput(this, 'StateMachineArn', { value: stateMachine.stateMachineArn });
    new CfnOutput(this, 'StagingBucketName', { value: stagingBucket.bucketName });
    new CfnOutput(this, 'RegistryBucketName', { value: registryBucket.bucketName });
  }
}

/**
 * Issue #7: no execution may end leaving its operation RUNNING. The Reconcile function closes the
 * operation of an execution that failed, timed out or was aborted without closing it (its
 * "Execution Status Change" event), after asking the host what it has; the same function sweeps
 * every stale operation on the cleanup's schedule. Undeliverable events land in a queue.
 */
function reconcileEndedExecutions(
  stack: Stack,
  { stateMachine, interval, eicOsUser, fn, grantSecret }: {
    stateMachine: { stateMachineArn: string; grantExecution(f: lambda.IFunction, ...actions: string[]): unknown };
    interval: Duration;
    eicOsUser: string;
    fn: lambda.Function;
    grantSecret: (f: lambda.IFunction) => void;
  },
): void {
  fn.addEnvironment('STATE_MACHINE_ARN', stateMachine.stateMachineArn);
  fn.addEnvironment('PLUGIN_EIC_OS_USER', eicOsUser);
  grantSecret(fn);
  grantHostAccess(stack, fn, eicOsUser);
  stateMachine.grantExecution(fn, 'states:DescribeExecution');
  const deadLetterQueue = new sqs.Queue(stack, 'ReconcileDeadLetters', {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
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
 * Reaching a workspace host: SSM Run Command, or EC2 Instance Connect (a one-time key for the
 * delivery OS user only, then SSH to the instance's private IP). SSH needs the function in the
 * instances' VPC; see infra/README.md.
 */
function grantHostAccess(stack: Stack, fn: lambda.IFunction, eicOsUser: string): void {
  const instances = stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' });
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ssm:SendCommand'],
      resources: [instances, stack.formatArn({ service: 'ssm', account: '', resource: 'document', resourceName: 'AWS-RunShellScript' })],
    }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ec2-instance-connect:SendSSHPublicKey'],
      resources: [instances],
      conditions: { StringEquals: { 'ec2:osuser': eicOsUser } },
    }),
  );
  // These calls do not support resource-level permissions (CancelCommand stops a command past its deadline).
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ssm:GetCommandInvocation', 'ssm:CancelCommand', 'ssm:DescribeInstanceInformation', 'ec2:DescribeInstances'],
      resources: ['*'],
    }),
  );
}
