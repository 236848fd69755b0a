import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_SCRIPT_PATTERN } from '../../../infra/constructs/host-command-document.js';
import { PluginDeliveryStack } from '../../../infra/stack.js';
import { installScript, restartScript, uninstallScript } from '../../../lambdas/delivery/host-scripts.js';
import { shellQuote } from '../../../lambdas/delivery/shell.js';

/**
 * Issue #8 pinned on one synthesized app (VPC, RDS Proxy, a customer key, no region given) that
 * cdk-nag's AwsSolutions and Serverless packs check as a validation plugin, as `cdk synth` does.
 */
type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>> };
type Resource = { Properties: Record<string, unknown>; DependsOn?: string[] };

let outdir: string;
let template: Template;
let report: { pluginReports: Array<{ pluginName: string; violations: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }> }> };
beforeAll(() => {
  outdir = mkdtempSync(path.join(tmpdir(), 'mpd-nag-'));
  const app = new App({ outdir });
  const stack = new PluginDeliveryStack(app, 'Nagged', {
    bundle: false,
    databaseSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds-master-AbCdEf',
    database: { host: 'db.cluster-abc.eu-west-1.rds.amazonaws.com', name: 'plugins' },
    rdsProxyEndpoint: 'molecule.proxy-abc.eu-west-1.rds.amazonaws.com',
    secretsKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-1111-2222-3333-444455556666',
    network: { subnetIds: ['subnet-0123456789abcdef0'], securityGroupIds: ['sg-0123456789abcdef0'] },
    throttle: { rateLimit: 40, burstLimit: 80 },
    reservedConcurrency: { api: 30, step: 15 },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  Validations.of(app).addPlugins(new ServerlessChecks(app));
  app.synth();
  template = Template.fromStack(stack);
  report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
});
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

const statements = (): Statement[] =>
  Object.values(template.findResources('AWS::IAM::Policy') as Record<string, Resource>).flatMap(
    (p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
  );
const own = () =>
  Object.entries(template.findResources('AWS::Lambda::Function') as Record<string, Resource>).filter(
    ([, fn]) => (fn.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.POWERTOOLS_SERVICE_NAME,
  );
const env = (description: RegExp) => {
  const found = own().find(([, fn]) => description.test(String(fn.Properties.Description)));
  if (!found) throw new Error(`no function described as ${description}`);
  return (found[1].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
};

describe('cdk-nag', () => {
  it('finds nothing unacknowledged in the AwsSolutions and Serverless packs', () => {
    const findings = report.pluginReports
      .filter((r) => r.pluginName !== 'CloudFormation Validate')
      .flatMap((r) => r.violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} at ${c.constructPath}`)));
    // A pack with nothing to report leaves no entry; with findings it lists each one here.
    expect(findings).toEqual([]);
  });
});

describe('host access', () => {
  it("sends commands only with the stack's own versioned document, whose parameters are pattern-checked", () => {
    const sends = statements().filter((s) => [s.Action].flat().includes('ssm:SendCommand'));
    expect(JSON.stringify(sends)).not.toContain('AWS-RunShellScript');
    template.hasResourceProperties('AWS::SSM::Document', {
      DocumentType: 'Command',
      UpdateMethod: 'NewVersion',
      Content: Match.objectLike({
        parameters: {
          commands: Match.objectLike({ type: 'StringList', allowedPattern: HOST_SCRIPT_PATTERN }),
          executionTimeout: Match.objectLike({ allowedPattern: Match.anyValue() }),
        },
      }),
    });
    expect(env(/^Installs the staged/)).toMatchObject({ PLUGIN_SSM_DOCUMENT: { Ref: expect.stringMatching(/HostCommandDocument/) } });
  });

  it('admits the delivery scripts as the SSM transport frames them, and nothing appended to them', () => {
    const pattern = new RegExp(HOST_SCRIPT_PATTERN);
    const framed = (script: string) => `exec bash -c ${shellQuote(script)} molecule-delivery`;
    const scripts = [
      installScript({ tarballUrl: "https://example.com/a?x=1&y='2'", configDir: '/configs', pluginName: 'code-review-rules', ts: 'abc123' }),
      uninstallScript({ configDir: '/configs', pluginName: 'code-review-rules', skills: ['review'] }),
      restartScript({ workspaceId: 'ws-1', command: 'docker restart ws-{workspaceId}' }),
    ];
    for (const script of scripts) {
      expect(script.split('\n').length).toBeGreaterThan(3);
      expect(framed(script)).toMatch(pattern);
    }
    expect(`${framed('true')}; rm -rf /`).not.toMatch(pattern);
    expect("exec bash -c 'true' molecule-delivery' x").not.toMatch(pattern);
    expect('curl evil | sh').not.toMatch(pattern);
  });

  it('reaches only instances carrying the workspace tag, over SSM and EC2 Instance Connect', () => {
    for (const s of statements().filter((s) => JSON.stringify(s.Resource).includes(':instance/'))) {
      expect(s.Condition?.StringLike).toEqual({ 'aws:ResourceTag/molecule:workspace': '*' });
    }
    const hostStatements = statements().filter((s) => JSON.stringify(s.Resource).includes(':instance/'));
    expect(hostStatements.flatMap((s) => [s.Action].flat()).sort()).toEqual(
      // Deliver, Remove, Restart, VerifyHealth, Inventory and Repair, and Reconcile, which asks hosts what they have.
      [...Array(7).fill('ec2-instance-connect:SendSSHPublicKey'), ...Array(7).fill('ssm:SendCommand')].sort(),
    );
  });
});

describe('least privilege elsewhere', () => {
  it('scopes every S3 object grant to staged/, revisions/, inventories/ or registry/ with named actions', () => {
    const s3 = statements().filter((s) => [s.Action].flat().some((a) => a.startsWith('s3:')));
    expect(s3.length).toBeGreaterThan(0);
    for (const s of s3) {
      expect([s.Action].flat().every((a) => /^s3:(GetObject|PutObject|DeleteObject|ListBucket)$/.test(a))).toBe(true);
      const resources = JSON.stringify(s.Resource);
      if ([s.Action].flat().includes('s3:ListBucket')) expect([['registry/*'], ['revisions/*']]).toContainEqual(s.Condition?.StringLike?.['s3:prefix']);
      else expect(resources).toMatch(/\/(staged|revisions|inventories|registry)\/\*/);
    }
  });

  it('gives Step Functions access only to start and describe executions', () => {
    const states = statements()
      .flatMap((s) => [s.Action].flat())
      .filter((a) => a.startsWith('states:'));
    expect([...new Set(states)].sort()).toEqual(['states:DescribeExecution', 'states:StartExecution']);
  });

  it('decrypts with the customer key only through Secrets Manager', () => {
    const decrypts = statements().filter((s) => [s.Action].flat().includes('kms:Decrypt'));
    expect(decrypts.length).toBe(own().length);
    for (const s of decrypts) {
      expect(s.Resource).toBe('arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-1111-2222-3333-444455556666');
      expect(JSON.stringify(s.Condition)).toContain('secretsmanager.');
    }
  });

  it('names no region when none is given', () => {
    expect(JSON.stringify(template.toJSON())).not.toContain('us-east-1');
  });
});

describe('database connection settings', () => {
  it('connects every function through the proxy, verified against the runtime CA bundle, with 2 connections', () => {
    for (const [, fn] of own()) {
      expect((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
        DATABASE_PROXY_ENDPOINT: 'molecule.proxy-abc.eu-west-1.rds.amazonaws.com',
        DATABASE_HOST: 'db.cluster-abc.eu-west-1.rds.amazonaws.com',
        DATABASE_NAME: 'plugins',
        DATABASE_CA_FILE: '/var/runtime/ca-cert.pem',
        DATABASE_POOL_MAX: '2',
      });
    }
  });

  it('runs the migration function, in the VPC, before any other function updates', () => {
    const [migrateId, migrateFn] = own().find(([, fn]) => /migrations/.test(String(fn.Properties.Description))) ?? [];
    expect(migrateFn?.Properties.VpcConfig).toBeDefined();
    const [triggerId, trigger] = Object.entries(template.findResources('Custom::Trigger') as Record<string, Resource>)[0] ?? [];
    expect(JSON.stringify(trigger?.Properties.HandlerArn)).toContain(String(migrateId).replace(/[0-9A-F]{8}$/, 'CurrentVersion'));
    for (const [id, fn] of own()) {
      if (id === migrateId) continue;
      expect(fn.DependsOn ?? []).toContain(triggerId);
    }
  });
});

describe('edges and hygiene', () => {
  it('throttles the stage and writes JSON access logs with the request id', () => {
    const stages = Object.values(template.findResources('AWS::ApiGatewayV2::Stage') as Record<string, Resource>);
    expect(stages).toHaveLength(1);
    const [stage] = stages as [Resource];
    expect(stage.Properties).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 40, ThrottlingBurstLimit: 80 },
    });
    const format = JSON.parse(String((stage.Properties.AccessLogSettings as { Format: string }).Format));
    expect(format).toMatchObject({ requestId: '$context.requestId', status: '$context.status', integrationRequestId: '$context.integration.requestId' });
  });

  it('reserves concurrency so the steps cannot take what the API needs', () => {
    const reserved = Object.fromEntries(own().map(([, fn]) => [String(fn.Properties.Description), fn.Properties.ReservedConcurrentExecutions]));
    expect(reserved['Plugin delivery HTTP API']).toBe(30);
    expect(reserved['Fetches, validates and stages a plugin archive in S3']).toBe(15);
    expect(reserved['Starts the due scheduled uninstalls']).toBe(1);
  });

  it('ships no source maps, empties the staging bucket on delete, keeps registry versions 30 days', () => {
    for (const [, fn] of own()) expect(JSON.stringify(fn.Properties.Environment)).not.toContain('enable-source-maps');
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ Tags: Match.arrayWith([{ Key: 'aws-cdk:auto-delete-objects', Value: 'true' }]) }),
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 30 } })]) },
    });
  });

  it("expires staged tarballs and hosts' inventories after a day and never a kept revision's (revisions/)", () => {
    const buckets = Object.values(template.findResources('AWS::S3::Bucket')) as Array<{
      Properties: { LifecycleConfiguration?: { Rules: Array<{ Prefix?: string; ExpirationInDays?: number; Status: string }> } };
    }>;
    const expiring = buckets.flatMap((b) => b.Properties.LifecycleConfiguration?.Rules ?? []).filter((rule) => rule.ExpirationInDays !== undefined);
    expect(expiring.map((rule) => [rule.Prefix, rule.ExpirationInDays])).toEqual([
      ['staged/', 1],
      ['inventories/', 1],
    ]);
  });

  it('sends cleanup runs EventBridge could not deliver to a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [Match.objectLike({ DeadLetterConfig: { Arn: Match.anyValue() }, RetryPolicy: { MaximumRetryAttempts: 2 } })],
    });
  });
});
