import { type IAspect, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';

/**
 * The wildcard resources the stack grants on purpose, each with why (cdk-nag AwsSolutions-IAM5).
 * cdk-nag names each finding by the flattened resource (`AwsSolutions-IAM5[Resource::…]`), which
 * holds logical ids and the region, so this aspect acknowledges a policy's findings that match a
 * pattern here and leaves every other wildcard to fail the check.
 */
const ALLOWED_WILDCARDS: Array<{ pattern: RegExp; reason: string }> = [
  {
    pattern: /^\*$/,
    reason:
      'actions without resource-level permissions: X-Ray PutTraceSegments/PutTelemetryRecords (tracing), ' +
      'ec2:DescribeInstances, ec2:DescribeInstanceConnectEndpoints, ssm:DescribeInstanceInformation, and ssm:GetCommandInvocation/CancelCommand on command ids known only at run time',
  },
  { pattern: /\/staged\/\*$/, reason: 'staged tarballs are named per operation at run time; the grant is limited to the staged/ prefix' },
  {
    pattern: /\/revisions\/\*$/,
    reason: "kept revisions' tarballs are named by their content hash at run time; the grant is limited to the revisions/ prefix",
  },
  {
    pattern: /\/inventories\/\*$/,
    reason: "hosts' inventories (SPEC §12) are named per operation at run time; the grant is limited to the inventories/ prefix",
  },
  { pattern: /\/registry\/\*$/, reason: 'registry tarballs are read by plugin name at run time; the grant is limited to the registry/ prefix' },
  {
    pattern: /:instance\/\*$/,
    reason: 'workspace instances are registered at run time; the statement only matches instances carrying the workspace tag (aws:ResourceTag condition)',
  },
  { pattern: /:execution:.*:\*$/, reason: "executions are named at run time; the grant is limited to this state machine's executions" },
  { pattern: /^<[A-Za-z0-9]+Function[A-Za-z0-9]*\.Arn>:\*$/, reason: 'the state machine invokes the versions and aliases of its own step functions' },
];

export class AcknowledgeIntendedWildcards implements IAspect {
  visit(node: IConstruct): void {
    if (!(node instanceof iam.CfnPolicy)) return;
    const document = Stack.of(node).resolve(node.policyDocument) as { Statement?: Array<{ Effect?: string; Resource?: unknown }> };
    for (const statement of document.Statement ?? []) {
      if (statement.Effect !== 'Allow') continue;
      for (const resource of [statement.Resource].flat()) {
        const flat = String(flattenCfnReference(resource));
        const allowed = ALLOWED_WILDCARDS.find(({ pattern }) => pattern.test(flat));
        if (flat.includes('*') && allowed) Validations.of(node).acknowledge({ id: `AwsSolutions-IAM5[Resource::${flat}]`, reason: allowed.reason });
      }
    }
  }
}
