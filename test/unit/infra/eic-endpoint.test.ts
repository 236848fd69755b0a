import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginDeliveryStack, type PluginDeliveryStackProps } from '../../../infra/stack.js';

/** Issue #10 item 4: the OpenTunnel grant, its conditions, and the optional endpoints with their security group. */
type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>> };
type Resource = { Properties: Record<string, unknown> };

const DATABASE_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:molecule-db-AbCdEf';
const EXISTING = 'eice-0123456789abcdef0';

function synth(eicEndpoint: PluginDeliveryStackProps['eicEndpoint'], outdir?: string): { template: Template; app: App } {
  const app = new App(outdir ? { outdir } : {});
  const stack = new PluginDeliveryStack(app, 'Eice', {
    bundle: false,
    env: { account: '123456789012', region: 'eu-west-1' },
    databaseSecretArn: DATABASE_SECRET_ARN,
    eicEndpoint,
  });
  return { template: Template.fromStack(stack), app };
}

const statements = (template: Template): Statement[] =>
  Object.values(template.findResources('AWS::IAM::Policy') as Record<string, Resource>).flatMap(
    (p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
  );
const withAction = (template: Template, action: string) => statements(template).filter((s) => [s.Action].flat().includes(action));
const envOf = (template: Template, description: RegExp) => {
  const fn = Object.values(template.findResources('AWS::Lambda::Function') as Record<string, Resource>).find((f) =>
    description.test(String(f.Properties.Description)),
  );
  return (fn!.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
};
const HOST_STEPS = [
  /^Installs the staged plugin/,
  /^Uninstalls a plugin/,
  /^Restarts the workspace/,
  /^Runs the health check/,
  /^Lists what the workspace host really has/,
  /^Reinstalls, adopts or cleans/,
  /^Closes operations/,
];

describe('without endpoints', () => {
  const { template } = synth(undefined);

  it('grants no OpenTunnel at all and delivers over EIC directly', () => {
    expect(withAction(template, 'ec2-instance-connect:OpenTunnel')).toEqual([]);
    for (const step of HOST_STEPS) expect(envOf(template, step).PLUGIN_EIC_CONNECTION).toBe('direct');
    template.resourceCountIs('AWS::EC2::InstanceConnectEndpoint', 0);
  });
});

describe('with existing endpoints (eicEndpointIds, eicPrivateIpCidrs)', () => {
  const { template } = synth({ endpointIds: [EXISTING], privateIpCidrs: ['10.20.0.0/16'] });

  it('allows OpenTunnel only on those endpoints, only to port 22 and only to the configured CIDRs', () => {
    const grants = withAction(template, 'ec2-instance-connect:OpenTunnel');

    expect(grants.length).toBe(HOST_STEPS.length);
    for (const grant of grants) {
      expect(grant).toEqual({
        Effect: 'Allow',
        Action: 'ec2-instance-connect:OpenTunnel',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:ec2:eu-west-1:123456789012:instance-connect-endpoint/${EXISTING}`]] },
        Condition: {
          NumericEquals: { 'ec2-instance-connect:remotePort': 22 },
          IpAddress: { 'ec2-instance-connect:privateIpAddress': ['10.20.0.0/16'] },
        },
      });
    }
  });

  it('lets the host steps, and only them, look endpoints up and tunnel in auto mode', () => {
    expect(withAction(template, 'ec2:DescribeInstanceConnectEndpoints').length).toBe(HOST_STEPS.length);
    for (const step of HOST_STEPS) expect(envOf(template, step)).toMatchObject({ PLUGIN_EIC_CONNECTION: 'auto', PLUGIN_EIC_ENDPOINT_IDS: EXISTING });
    expect(envOf(template, /^Plugin delivery HTTP API/).PLUGIN_EIC_CONNECTION).toBeUndefined();
  });
});

describe('with endpoints created per subnet (eicEndpointSubnetIds)', () => {
  const created = (instanceSecurityGroupId?: string) =>
    synth({
      endpointSubnetIds: ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0aaaaaaaaaaaaaaa2'],
      vpcId: 'vpc-0bbbbbbbbbbbbbbb1',
      ...(instanceSecurityGroupId && { instanceSecurityGroupId }),
    }).template;

  it('creates one endpoint per subnet in a security group that lets nothing in and only SSH out', () => {
    const template = created();

    template.resourceCountIs('AWS::EC2::InstanceConnectEndpoint', 2);
    template.hasResourceProperties('AWS::EC2::InstanceConnectEndpoint', { SubnetId: 'subnet-0aaaaaaaaaaaaaaa1', SecurityGroupIds: [Match.anyValue()] });
    const [group] = Object.values(template.findResources('AWS::EC2::SecurityGroup') as Record<string, Resource>);
    expect(group!.Properties.VpcId).toBe('vpc-0bbbbbbbbbbbbbbb1');
    expect(group!.Properties.SecurityGroupIngress ?? []).toEqual([]);
    const egress = group!.Properties.SecurityGroupEgress as Array<Record<string, unknown>>;
    expect(egress.map(({ IpProtocol, FromPort, ToPort, CidrIp }) => ({ IpProtocol, FromPort, ToPort, CidrIp }))).toEqual(
      ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].map((CidrIp) => ({ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, CidrIp })),
    );
  });

  it('sends SSH only to the workspace instances’ security group when it is given', () => {
    const [group] = Object.values(created('sg-0ccccccccccccccc1').findResources('AWS::EC2::SecurityGroup') as Record<string, Resource>);

    expect(group!.Properties.SecurityGroupEgress).toEqual([
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, DestinationSecurityGroupId: 'sg-0ccccccccccccccc1', Description: 'SSH to workspace instances' },
    ]);
  });

  it('grants OpenTunnel on exactly the created endpoints and tells the functions their ids', () => {
    const template = created();
    const endpoints = Object.keys(template.findResources('AWS::EC2::InstanceConnectEndpoint'));
    const [grant] = withAction(template, 'ec2-instance-connect:OpenTunnel');

    const resources = [grant!.Resource].flat() as Array<{ 'Fn::Join': [string, unknown[]] }>;
    expect(resources.map((r) => (r['Fn::Join'][1].at(-1) as { Ref: string }).Ref).sort()).toEqual(endpoints.sort());
    expect(grant!.Condition).toMatchObject({ NumericEquals: { 'ec2-instance-connect:remotePort': 22 } });
    expect(envOf(template, /^Installs the staged plugin/).PLUGIN_EIC_ENDPOINT_IDS).toEqual({ 'Fn::Join': [',', endpoints.map((id) => ({ Ref: id }))] });
  });

  it('refuses subnets without their VPC, and ids or CIDRs that are not ids or CIDRs', () => {
    expect(() => synth({ endpointSubnetIds: ['subnet-0aaaaaaaaaaaaaaa1'] })).toThrow(/eicVpcId/);
    expect(() => synth({ endpointIds: ['vpce-0123456789abcdef0'] })).toThrow(/eicEndpointIds/);
    expect(() => synth({ endpointIds: [EXISTING], privateIpCidrs: ['10.0.0.0'] })).toThrow(/eicPrivateIpCidrs/);
  });
});

describe('cdk-nag with endpoints created and configured', () => {
  let outdir: string;
  let report: { pluginReports: Array<{ violations: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }> }> };
  beforeAll(() => {
    outdir = mkdtempSync(path.join(tmpdir(), 'mpd-eice-nag-'));
    const { app } = synth(
      {
        endpointIds: [EXISTING],
        endpointSubnetIds: ['subnet-0aaaaaaaaaaaaaaa1'],
        vpcId: 'vpc-0bbbbbbbbbbbbbbb1',
        instanceSecurityGroupId: 'sg-0ccccccccccccccc1',
      },
      outdir,
    );
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    Validations.of(app).addPlugins(new ServerlessChecks(app));
    app.synth();
    report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('finds nothing unacknowledged in the endpoint construct', () => {
    const findings = report.pluginReports
      .flatMap((p) => p.violations)
      .flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} ${c.constructPath}`))
      .filter((finding) => /EicEndpoint|OpenTunnel/.test(finding) || /IAM5/.test(finding));
    expect(findings).toEqual([]);
  });
});
