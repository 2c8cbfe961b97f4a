// The web UI: a private bucket with the built UI (BucketDeployment), CloudFront with origin access
// control, SPA routing, security headers, and behaviours that send every API path to the API
// origin uncached, so the UI and the API share one origin (first-party session cookie).
import {
  Annotations,
  type CfnElement,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Construct } from 'constructs';

import { type RaktarConfig, ssmNames } from './config.js';
import { REPO_ROOT } from './table-schema.js';

export interface FrontendStackProps extends StackProps {
  readonly config: RaktarConfig;
}

/** Paths served by the `raktar` function (backend/raktar-http: cargo shim, GraphQL, web sign-in). */
export const API_PATHS = [
  '/graphql',
  '/api/*',
  '/index/*',
  '/upstream/*',
  '/auth/*',
  '/health',
  '/login',
  '/logout',
  '/me',
  '/me/*',
] as const;

export const UI_PLACEHOLDER_DIR = join(REPO_ROOT, 'infra', 'assets', 'ui-placeholder');
export const UI_BUILD_DIR = join(REPO_ROOT, 'frontend', 'dist');

/** Content-Security-Policy of the UI (the API's own pages send their own). */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: https:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  'upgrade-insecure-requests',
].join('; ');

/** File types of a built UI (Vite): anything else is a client-side route. */
export const UI_FILE_EXTENSIONS = [
  'html',
  'js',
  'mjs',
  'css',
  'map',
  'json',
  'txt',
  'xml',
  'webmanifest',
  'ico',
  'png',
  'jpg',
  'jpeg',
  'gif',
  'svg',
  'webp',
  'avif',
  'woff',
  'woff2',
  'ttf',
  'otf',
  'wasm',
] as const;

/** SPA routing at the edge: a path that does not end in a UI file type is a client-side route ->
 * index.html (versions such as `/crates/serde/1.0.197` contain dots, so "has a dot" is not enough).
 * Distribution-wide error responses would also rewrite the API's 404s, which cargo relies on. */
export const SPA_REWRITE = `var files = ${JSON.stringify(Object.fromEntries(UI_FILE_EXTENSIONS.map((e) => [e, true])))};
function handler(event) {
  var request = event.request;
  var last = request.uri.split('/').pop();
  var dot = last.lastIndexOf('.');
  if (dot === -1 || files[last.substring(dot + 1).toLowerCase()] !== true) {
    request.uri = '/index.html';
  }
  return request;
}`;

/** The UI folder to deploy: named, else frontend/dist, else a placeholder page (never fails). */
export function resolveUiDir(named: string | undefined): { dir: string; placeholder: boolean } {
  for (const dir of [named, UI_BUILD_DIR]) {
    if (dir !== undefined && existsSync(dir) && statSync(dir).isDirectory() && existsSync(join(dir, 'index.html'))) {
      return { dir, placeholder: false };
    }
  }
  return { dir: UI_PLACEHOLDER_DIR, placeholder: true };
}

export class FrontendStack extends Stack {
  public readonly distribution: cloudfront.Distribution;
  public readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: FrontendStackProps) {
    super(scope, id, props);
    const config = props.config;

    this.bucket = new s3.Bucket(this, 'Ui', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Holds only the public build of the UI, read by CloudFront alone (origin access control).',
    });

    const apiDomain =
      config.apiOriginDomain ?? ssm.StringParameter.valueForStringParameter(this, ssmNames(config).apiOriginDomain);
    const apiOrigin = new origins.HttpOrigin(apiDomain, {
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
      originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
      readTimeout: Duration.seconds(30),
    });

    const hsts = { accessControlMaxAge: Duration.days(365), includeSubdomains: true, preload: false, override: true };
    const uiHeaders = new cloudfront.ResponseHeadersPolicy(this, 'UiHeaders', {
      comment: 'Raktar UI: CSP, HSTS, no framing',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: UI_CSP, override: true },
        strictTransportSecurity: hsts,
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        contentTypeOptions: { override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });
    // API answers keep their own CSP (the sign-in pages send a strict one); HSTS and framing are
    // added where the function did not set them.
    const apiHeaders = new cloudfront.ResponseHeadersPolicy(this, 'ApiHeaders', {
      comment: 'Raktar API: HSTS, no framing',
      securityHeadersBehavior: {
        strictTransportSecurity: hsts,
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: false },
        contentTypeOptions: { override: true },
      },
    });

    const spa = new cloudfront.Function(this, 'SpaRouting', {
      comment: 'Raktar UI: client-side routes to /index.html',
      code: cloudfront.FunctionCode.fromInline(SPA_REWRITE),
      runtime: cloudfront.FunctionRuntime.JS_2_0,
    });

    const apiBehavior: cloudfront.BehaviorOptions = {
      origin: apiOrigin,
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      // Never cached: answers depend on the token or the session cookie. With caching disabled
      // the origin request policy forwards Authorization, cookies and query strings.
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      responseHeadersPolicy: apiHeaders,
      compress: false,
    };

    const certificate =
      config.frontendCertificateArn === undefined
        ? undefined
        : acm.Certificate.fromCertificateArn(this, 'Certificate', config.frontendCertificateArn);
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Raktar: web UI and API on one origin',
      defaultRootObject: 'index.html',
      domainNames: config.frontendDomainName === undefined ? undefined : [config.frontendDomainName],
      certificate,
      minimumProtocolVersion: certificate === undefined ? undefined : cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: {
        '100': cloudfront.PriceClass.PRICE_CLASS_100,
        '200': cloudfront.PriceClass.PRICE_CLASS_200,
        All: cloudfront.PriceClass.PRICE_CLASS_ALL,
      }[config.priceClass],
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: uiHeaders,
        functionAssociations: [{ function: spa, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }],
        compress: true,
      },
      additionalBehaviors: Object.fromEntries(API_PATHS.map((p) => [p, apiBehavior])),
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason: 'A private registry for an organisation: who may read is decided by tokens and sign-in, not geography.',
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR2',
      reason:
        'Requests are authenticated by the function and rate limited by API Gateway throttling and the sign-in ' +
        'limits; a WAF web ACL (about $5/month plus per-request charges) is optional and can be attached later.',
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR3',
      reason: 'API requests are logged by API Gateway and the function; UI assets are public build output.',
    });
    if (certificate === undefined) {
      Validations.of(this.distribution).acknowledge({
        id: 'AwsSolutions-CFR4',
        reason:
          'Without a custom domain CloudFront serves its default certificate, whose viewer policy CloudFront fixes; ' +
          'with frontendDomainName the distribution requires TLS 1.2 (TLSv1.2_2021).',
      });
    }

    if (
      config.frontendDomainName !== undefined &&
      config.hostedZoneId !== undefined &&
      config.hostedZoneName !== undefined
    ) {
      const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', {
        hostedZoneId: config.hostedZoneId,
        zoneName: config.hostedZoneName,
      });
      const target = route53.RecordTarget.fromAlias(new targets.CloudFrontTarget(this.distribution));
      new route53.ARecord(this, 'Alias', { zone, recordName: config.frontendDomainName, target });
      new route53.AaaaRecord(this, 'AliasV6', { zone, recordName: config.frontendDomainName, target });
    }

    const ui = resolveUiDir(config.uiDir);
    if (ui.placeholder) {
      Annotations.of(this).addWarningV2(
        'raktar:placeholder-ui',
        `No built UI (frontend/dist or -c uiDir=PATH / RAKTAR_UI_DIR): deploying the placeholder page ${ui.dir}.`,
      );
    }
    new s3deploy.BucketDeployment(this, 'DeployUi', {
      sources: [s3deploy.Source.asset(ui.dir)],
      destinationBucket: this.bucket,
      distribution: this.distribution,
      distributionPaths: ['/*'],
      prune: true,
      memoryLimit: 256,
    });
    for (const child of this.node.children) {
      if (child.node.id.startsWith('Custom::CDKBucketDeployment')) {
        const uiLogicalId = this.getLogicalId(this.bucket.node.defaultChild as CfnElement);
        Validations.of(child).acknowledge({
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          reason: "CDK's BucketDeployment handler writes its own logs with the basic execution role.",
        });
        const deploymentWildcards = [
          'Action::s3:Abort*',
          'Action::s3:DeleteObject*',
          'Action::s3:GetBucket*',
          'Action::s3:GetObject*',
          'Action::s3:List*',
          'Resource::*',
          `Resource::<${uiLogicalId}.Arn>/*`,
          'Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*',
        ];
        for (const finding of deploymentWildcards) {
          Validations.of(child).acknowledge({
            id: `AwsSolutions-IAM5[${finding}]`,
            reason:
              "CDK's BucketDeployment handler (grants written by aws-cdk-lib): it reads the UI asset from the CDK " +
              'assets bucket, replaces the objects of the UI bucket and invalidates the distribution (CloudFront ' +
              'invalidations take no resource ARN).',
          });
        }
        Validations.of(child).acknowledge({
          id: 'AwsSolutions-L1',
          reason:
            "The runtime of CDK's BucketDeployment handler is chosen by aws-cdk-lib (pinned in package-lock.json).",
        });
      }
    }

    const url =
      config.frontendDomainName === undefined
        ? `https://${this.distribution.distributionDomainName}`
        : `https://${config.frontendDomainName}`;
    new CfnOutput(this, 'SiteUrl', {
      value: url,
      description: 'The registry URL behind CloudFront: use it as publicUrl of the backend and sign-in stacks',
    });
    new CfnOutput(this, 'DistributionDomainName', { value: this.distribution.distributionDomainName });
    new CfnOutput(this, 'UiBucketName', { value: this.bucket.bucketName });
  }
}
