// Everything an installer chooses, from CDK context (`cdk.json`, `-c key=value`) and, for the two
// local paths, environment variables. One typed object; the stacks never read context themselves.
import type { Node } from 'constructs';

export type Entry = 'httpApi' | 'functionUrl';
export type SignIn = 'none' | 'cognito' | 'oidc';

export interface RaktarConfig {
  /** Stack name prefix and SSM parameter namespace (`/raktar/...`). */
  readonly name: string;
  /** The URL browsers and cargo use (`https://crates.example.com`); default: the API's own URL. */
  readonly publicUrl: string | undefined;
  /** HTTP entry: an API Gateway HTTP API (payload 2.0) or a Lambda function URL. */
  readonly entry: Entry;
  /** A zip from `.ci/build-lambda` or a folder with `bootstrap` (context `lambdaAsset` or
   * `RAKTAR_LAMBDA_ASSET`); default: the newest build, else a placeholder. */
  readonly lambdaAsset: string | undefined;
  readonly memorySize: number;
  readonly timeoutSeconds: number;
  /** Reserved concurrency of the function (caps cost and DynamoDB load); unset: unreserved. */
  readonly reservedConcurrency: number | undefined;
  readonly logRetentionDays: number;
  /** Lambda's own log lines (JSON log format): `WARN` drops the START/END/REPORT lines of every
   * invocation (about 300 bytes each, the largest log cost per request); `INFO` keeps them. */
  readonly platformLogLevel: 'WARN' | 'INFO' | 'DEBUG';
  readonly publicRead: boolean;
  readonly s3Prefix: string | undefined;
  readonly presignSeconds: number;
  readonly sessionLifetime: string | undefined;
  readonly tableName: string | undefined;
  readonly bucketVersioning: boolean;
  readonly noncurrentVersionDays: number;
  readonly throttleRateLimit: number;
  readonly throttleBurstLimit: number;
  /** Custom domain of the HTTP API (regional certificate in the stack's region). */
  readonly apiDomainName: string | undefined;
  readonly apiCertificateArn: string | undefined;
  readonly hostedZoneId: string | undefined;
  readonly hostedZoneName: string | undefined;
  readonly alarmEmail: string | undefined;
  readonly alarm5xxPercent: number;
  readonly signIn: SignIn;
  /** IAM Identity Center SAML application metadata URL (sign-in `cognito`). */
  readonly identityCenterMetadataUrl: string | undefined;
  readonly cognitoDomainPrefix: string | undefined;
  /** Any OIDC issuer (sign-in `oidc`). */
  readonly oidcIssuer: string | undefined;
  readonly oidcClientId: string | undefined;
  /** Secrets Manager secret (ARN or name) holding the client secret of a confidential client. */
  readonly oidcClientSecretArn: string | undefined;
  /** Built UI folder (context `uiDir` or `RAKTAR_UI_DIR`); default `frontend/dist`, else a placeholder. */
  readonly uiDir: string | undefined;
  /** Custom domain of the CloudFront distribution (certificate in us-east-1). */
  readonly frontendDomainName: string | undefined;
  readonly frontendCertificateArn: string | undefined;
  /** CloudFront price class: `100` (North America, Europe), `200` (+ Asia, Middle East, Africa), `All`. */
  readonly priceClass: '100' | '200' | 'All';
  /** The API origin's host name; default: read from the SSM parameter the backend stack writes. */
  readonly apiOriginDomain: string | undefined;
  /** The upstream registry's sparse index URL (what follows `sparse+` in a cargo configuration):
   * enables the pull-through index at `/upstream/index/` and the dependency-confusion guard
   * (`RAKTAR_UPSTREAM_SPARSE`); unset: both off. */
  readonly upstreamSparse: string | undefined;
  /** How long a cached upstream index file is served before revalidation (`90s`, `5m`, `1h`). */
  readonly upstreamFreshness: string | undefined;
  /** A new crate name while the upstream cannot be checked: `refuse` (the binary's default) or `allow`. */
  readonly upstreamUncheckedNames: 'refuse' | 'allow' | undefined;
  /** CI issuers allowed to exchange ID tokens for publish tokens (trusted publishing); empty: off. */
  readonly trustedPublishingIssuers: readonly string[];
  /** The audience the CI ID tokens must carry; default (in the binary): the public URL's host. */
  readonly trustedPublishingAudience: string | undefined;
  /** Lifetime of minted tokens, at most `30m`. */
  readonly trustedPublishingTokenLifetime: string | undefined;
}

type Lookup = (key: string) => unknown;

function str(get: Lookup, key: string): string | undefined {
  const v = get(key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
    throw new Error(`context ${key}: expected a string, number or boolean`);
  }
  const s = String(v).trim();
  return s === '' ? undefined : s;
}

function num(get: Lookup, key: string, fallback: number, min: number, max: number): number {
  const raw = str(get, key);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`context ${key}: expected a whole number between ${min} and ${max}, got ${raw}`);
  }
  return n;
}

/** The retention periods CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

function retention(get: Lookup, key: string, fallback: number): number {
  const n = num(get, key, fallback, 1, 3653);
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(n)) {
    throw new Error(
      `context ${key}: CloudWatch Logs keeps logs for one of ${LOG_RETENTION_DAYS.join(', ')} days, not ${n}`,
    );
  }
  return n;
}

function optNum(get: Lookup, key: string, min: number, max: number): number | undefined {
  return str(get, key) === undefined ? undefined : num(get, key, 0, min, max);
}

function bool(get: Lookup, key: string, fallback: boolean): boolean {
  const raw = str(get, key);
  if (raw === undefined) return fallback;
  if (['true', '1', 'yes'].includes(raw.toLowerCase())) return true;
  if (['false', '0', 'no'].includes(raw.toLowerCase())) return false;
  throw new Error(`context ${key}: expected true or false, got ${raw}`);
}

function oneOf<T extends string>(get: Lookup, key: string, allowed: readonly T[], fallback: T): T {
  const raw = str(get, key);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new Error(`context ${key}: expected one of ${allowed.join(', ')}, got ${raw}`);
  }
  return raw as T;
}

/** A duration as the binary reads it (`90s`, `15m`, `12h`, `7d`); returns seconds too. */
function duration(get: Lookup, key: string): { raw: string; seconds: number } | undefined {
  const raw = str(get, key);
  if (raw === undefined) return undefined;
  const m = /^([1-9][0-9]{0,8})([smhd])$/.exec(raw);
  if (m === null) {
    throw new Error(`context ${key}: expected a duration such as 90s, 15m, 12h or 7d, got ${raw}`);
  }
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return { raw, seconds: Number(m[1]) * unit };
}

/** An http(s) URL without query or fragment (the upstream may be plain http inside a network). */
function httpUrl(get: Lookup, key: string): string | undefined {
  const raw = str(get, key)?.replace(/^sparse\+/, '');
  if (raw === undefined) return undefined;
  if (!/^https?:\/\/[^/\s?#]+(\/[^\s?#]*)?$/.test(raw)) {
    throw new Error(`context ${key}: expected an http(s):// URL without query or fragment, got ${raw}`);
  }
  return raw.endsWith('/') ? raw : `${raw}/`;
}

/** A comma-separated list (or a JSON array in cdk.json) of https URLs. */
function urlList(get: Lookup, key: string): string[] {
  const v = get(key);
  if (v === undefined || v === null) return [];
  let items: string[];
  if (Array.isArray(v)) {
    items = v.map((x: unknown) => {
      if (typeof x !== 'string') throw new Error(`context ${key}: expected a list of URLs`);
      return x;
    });
  } else {
    items = (str(get, key) ?? '').split(',');
  }
  const out = items.map((x) => x.trim()).filter((x) => x !== '');
  for (const item of out) {
    if (!/^https:\/\/[^/\s]+/.test(item)) {
      throw new Error(`context ${key}: expected https:// issuer URLs, got ${item}`);
    }
  }
  return out;
}

function url(get: Lookup, key: string): string | undefined {
  const raw = str(get, key);
  if (raw === undefined) return undefined;
  if (!/^https:\/\/[^/\s]+/.test(raw)) {
    throw new Error(`context ${key}: expected an https:// URL, got ${raw}`);
  }
  return raw.replace(/\/+$/, '');
}

/** Reads the configuration; `env` supplies `RAKTAR_LAMBDA_ASSET` and `RAKTAR_UI_DIR`. */
export function readConfig(get: Lookup, env: NodeJS.ProcessEnv = process.env): RaktarConfig {
  const config: RaktarConfig = {
    name: str(get, 'name') ?? 'Raktar',
    publicUrl: url(get, 'publicUrl'),
    entry: oneOf(get, 'entry', ['httpApi', 'functionUrl'] as const, 'httpApi'),
    lambdaAsset: str(get, 'lambdaAsset') ?? str((k) => env[k], 'RAKTAR_LAMBDA_ASSET'),
    memorySize: num(get, 'memorySize', 256, 128, 10240),
    timeoutSeconds: num(get, 'timeoutSeconds', 30, 1, 900),
    reservedConcurrency: optNum(get, 'reservedConcurrency', 1, 100000),
    logRetentionDays: retention(get, 'logRetentionDays', 30),
    platformLogLevel: oneOf(get, 'platformLogLevel', ['WARN', 'INFO', 'DEBUG'] as const, 'WARN'),
    publicRead: bool(get, 'publicRead', false),
    s3Prefix: str(get, 's3Prefix')?.replace(/^\/+|\/+$/g, ''),
    presignSeconds: num(get, 'presignSeconds', 300, 1, 7 * 24 * 3600),
    sessionLifetime: str(get, 'sessionLifetime'),
    tableName: str(get, 'tableName'),
    bucketVersioning: bool(get, 'bucketVersioning', false),
    noncurrentVersionDays: num(get, 'noncurrentVersionDays', 30, 1, 3650),
    throttleRateLimit: num(get, 'throttleRateLimit', 100, 1, 100000),
    throttleBurstLimit: num(get, 'throttleBurstLimit', 200, 1, 100000),
    apiDomainName: str(get, 'apiDomainName'),
    apiCertificateArn: str(get, 'apiCertificateArn'),
    hostedZoneId: str(get, 'hostedZoneId'),
    hostedZoneName: str(get, 'hostedZoneName'),
    alarmEmail: str(get, 'alarmEmail'),
    alarm5xxPercent: num(get, 'alarm5xxPercent', 5, 1, 100),
    signIn: oneOf(get, 'signIn', ['none', 'cognito', 'oidc'] as const, 'none'),
    identityCenterMetadataUrl: url(get, 'identityCenterMetadataUrl'),
    cognitoDomainPrefix: str(get, 'cognitoDomainPrefix'),
    oidcIssuer: url(get, 'oidcIssuer'),
    oidcClientId: str(get, 'oidcClientId'),
    oidcClientSecretArn: str(get, 'oidcClientSecretArn'),
    uiDir: str(get, 'uiDir') ?? str((k) => env[k], 'RAKTAR_UI_DIR'),
    frontendDomainName: str(get, 'frontendDomainName'),
    frontendCertificateArn: str(get, 'frontendCertificateArn'),
    priceClass: oneOf(get, 'priceClass', ['100', '200', 'All'] as const, '100'),
    apiOriginDomain: str(get, 'apiOriginDomain'),
    upstreamSparse: httpUrl(get, 'upstreamSparse'),
    upstreamFreshness: duration(get, 'upstreamFreshness')?.raw,
    upstreamUncheckedNames: str(get, 'upstreamUncheckedNames')
      ? oneOf(get, 'upstreamUncheckedNames', ['refuse', 'allow'] as const, 'refuse')
      : undefined,
    trustedPublishingIssuers: urlList(get, 'trustedPublishingIssuers'),
    trustedPublishingAudience: str(get, 'trustedPublishingAudience'),
    trustedPublishingTokenLifetime: duration(get, 'trustedPublishingTokenLifetime')?.raw,
  };
  const lifetime = duration(get, 'trustedPublishingTokenLifetime');
  if (lifetime !== undefined && lifetime.seconds > 1800) {
    throw new Error('context trustedPublishingTokenLifetime: at most 30m');
  }
  if (
    config.upstreamSparse === undefined &&
    (config.upstreamFreshness !== undefined || config.upstreamUncheckedNames !== undefined)
  ) {
    throw new Error('context upstreamFreshness and upstreamUncheckedNames need upstreamSparse');
  }
  if (
    config.trustedPublishingIssuers.length === 0 &&
    (config.trustedPublishingAudience !== undefined || config.trustedPublishingTokenLifetime !== undefined)
  ) {
    throw new Error(
      'context trustedPublishingAudience and trustedPublishingTokenLifetime need trustedPublishingIssuers',
    );
  }
  if (config.apiDomainName !== undefined && config.apiCertificateArn === undefined) {
    throw new Error('context apiDomainName needs apiCertificateArn (an ACM certificate in the stack region)');
  }
  if (config.apiDomainName !== undefined && config.entry === 'functionUrl') {
    throw new Error(
      'context apiDomainName is a custom domain of the HTTP API; with entry=functionUrl put the domain on CloudFront (frontendDomainName)',
    );
  }
  if ((config.hostedZoneId === undefined) !== (config.hostedZoneName === undefined)) {
    throw new Error('context hostedZoneId and hostedZoneName go together');
  }
  if (config.frontendDomainName !== undefined && config.frontendCertificateArn === undefined) {
    throw new Error('context frontendDomainName needs frontendCertificateArn (an ACM certificate in us-east-1)');
  }
  if (config.signIn === 'oidc' && (config.oidcIssuer === undefined || config.oidcClientId === undefined)) {
    throw new Error('signIn=oidc needs the context oidcIssuer and oidcClientId');
  }
  return config;
}

/** The configuration of an app's context. */
export function configFromNode(node: Node, env: NodeJS.ProcessEnv = process.env): RaktarConfig {
  return readConfig((key) => node.tryGetContext(key), env);
}

/** The SSM parameter names the stacks use to hand values to each other (no CloudFormation exports,
 * so each stack deploys on its own). */
export function ssmNames(config: RaktarConfig): { oidcIssuer: string; oidcClientId: string; apiOriginDomain: string } {
  const ns = `/${config.name.toLowerCase()}`;
  return {
    oidcIssuer: `${ns}/oidc/issuer`,
    oidcClientId: `${ns}/oidc/client-id`,
    apiOriginDomain: `${ns}/api/origin-domain`,
  };
}
