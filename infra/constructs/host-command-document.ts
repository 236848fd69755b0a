import { Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';

/** What the `commands` parameter must match (see the document below). */
export const HOST_SCRIPT_PATTERN = "^exec bash -c '(?:[^']|'\\\\'')*' molecule-delivery$";

/**
 * The project's SSM Command document: what Deliver, Remove and Restart run on a workspace host
 * instead of `AWS-RunShellScript`. Its parameters have the same names and meaning as
 * AWS-RunShellScript's (`commands`, `executionTimeout`), so the delivery code sends the same
 * request with only the document name changed (`PLUGIN_SSM_DOCUMENT`). Content changes become
 * new document versions (`NewVersion`), and the default version is the newest.
 */
export class HostCommandDocument extends Construct {
  readonly documentName: string;
  readonly documentArn: string;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const document = new ssm.CfnDocument(this, 'Document', {
      documentType: 'Command',
      documentFormat: 'JSON',
      updateMethod: 'NewVersion',
      content: {
        schemaVersion: '2.2',
        description: 'Molecule plugin delivery: runs one host script (install, uninstall, restart) with bash',
        parameters: {
          commands: {
            type: 'StringList',
            description: 'The host script, as `exec bash -c <single-quoted script> molecule-delivery`',
            // Admits only the one shape the delivery code sends (lambdas/delivery/ssm.ts): a
            // single-quoted bash script, any number of lines, inside which a quote is written
            // `'\''`, handed to `exec bash -c` under the name `molecule-delivery`. Anything else
            // (a second command, text after the closing quote) is refused before it reaches a host.
            allowedPattern: HOST_SCRIPT_PATTERN,
          },
          executionTimeout: {
            type: 'String',
            default: '300',
            description: 'Seconds the script may run (1 to 172800, as in AWS-RunShellScript)',
            allowedPattern: '^([1-9][0-9]{0,4}|1[0-6][0-9]{4}|17[0-1][0-9]{3}|172[0-7][0-9]{2}|172800)$',
          },
        },
        mainSteps: [
          {
            action: 'aws:runShellScript',
            name: 'runHostScript',
            inputs: { runCommand: '{{ commands }}', timeoutSeconds: '{{ executionTimeout }}' },
          },
        ],
      },
    });
    this.documentName = document.ref;
    this.documentArn = Stack.of(this).formatArn({ service: 'ssm', resource: 'document', resourceName: document.ref });
  }
}
