// Builds the app: the three stacks (each deployable on its own) and the cdk-nag checks.
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';

import { BackendStack } from './backend-stack.js';
import { configFromNode, type RaktarConfig } from './config.js';
import { FrontendStack } from './frontend-stack.js';
import { SignInStack } from './sign-in-stack.js';

export interface RaktarApp {
  readonly app: App;
  readonly config: RaktarConfig;
  readonly backend: BackendStack;
  readonly signIn: SignInStack | undefined;
  readonly frontend: FrontendStack;
}

/** The app (environment-agnostic stacks: synth needs no credentials). */
export function buildApp(props: AppProps = {}, env: NodeJS.ProcessEnv = process.env): RaktarApp {
  const app = new App(props);
  const config = configFromNode(app.node, env);
  const description = (what: string): string => `Raktar private Cargo registry: ${what}`;
  const signIn =
    config.signIn === 'cognito'
      ? new SignInStack(app, `${config.name}SignIn`, {
          config,
          description: description('sign-in (Cognito + IAM Identity Center)'),
        })
      : undefined;
  const backend = new BackendStack(app, `${config.name}Backend`, {
    config,
    description: description('backend (DynamoDB, S3, Lambda, HTTP entry)'),
  });
  const frontend = new FrontendStack(app, `${config.name}Frontend`, {
    config,
    description: description('web UI (S3 + CloudFront, one origin with the API)'),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, config, backend, signIn, frontend };
}
