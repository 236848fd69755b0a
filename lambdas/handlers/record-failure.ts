import { lazyHandler } from './lazy.js';
import { createS3Client } from '../shared/aws.js';
import { recordFailureStep } from '../workflow/steps/record-failure.js';

/** RecordFailure: the Catch target of every step. */
export const handler = lazyHandler(async ({ db, aws }) => recordFailureStep({ db, s3: await createS3Client(aws) }));
