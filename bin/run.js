#!/usr/bin/env node
import {execute} from '@oclif/core'

// Atlas supports Node 20 on purpose; the AWS SDK's notice about its future Node 22
// requirement would otherwise land on stderr of every command that touches S3/SQS.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

await execute({dir: import.meta.url})
