import { lazyHandler } from './lazy.js';
import { createS3Client } from '../shared/aws.js';
import { createResolvers } from '../plugins/source.js';
import { stageStep } from '../workflow/steps/stage.js';

/** The Stage step: fetch, validate and normalize the plugin into the staging bucket. */
export const handler = lazyHandler(async ({ db, config, aws }) => {
  const s3 = await createS3Client(aws);
  return stageStep({ db, s3, resolvers: createResolvers({ s3, config }), config });
});
