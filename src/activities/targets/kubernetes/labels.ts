/**
 * What opsflow writes on the objects it makes or changes, so every step is idempotent: a retry reads the cluster and
 * finds what the first attempt did by these annotations and labels. Annotations hold the facts (deploy id, version,
 * times, what a promotion replaced); labels only what selectors need (label values cannot hold a deploy id).
 */
import { createHash } from 'node:crypto';
import { IMAGE_PLACEHOLDER } from './config';

const PREFIX = 'opsflow.dev';

/** Annotations. */
export const ANNOTATION = {
  /** On the canary Deployment: the deploy that owns it. On the stable Deployment: the deploy that promoted its image. */
  deployId: `${PREFIX}/deploy-id`,
  /** The release's version, as the deploy asked for it (the image tag may be a sanitised form). */
  version: `${PREFIX}/version`,
  /** On the canary Deployment: the weight asked for (replica-ratio and blue-green read their weight from it). */
  weight: `${PREFIX}/weight`,
  /** Epoch ms at which the weight last changed: on the canary Deployment, or on the HTTPRoute when it splits. */
  weightChangedAt: `${PREFIX}/weight-changed-at`,
  /** On the canary Deployment: its rollback has begun; nothing may route traffic to it again. */
  rollingBack: `${PREFIX}/rolling-back`,
  /** On the stable Deployment after a promotion: the image and deploy it replaced, and when. */
  previousImage: `${PREFIX}/previous-image`,
  previousDeployId: `${PREFIX}/previous-deploy-id`,
  promotedAt: `${PREFIX}/promoted-at`,
  /** On the stable Deployment: the deploy whose promotion was undone (its rollout is verified on a retry). */
  restoredFrom: `${PREFIX}/restored-from`,
  /** On the stable Deployment: why this deploy's promotion failed and was undone, so a retry answers the same. */
  promotionFailed: `${PREFIX}/promotion-failed`,
  /**
   * On the stable Deployment: the newest rollbacks that took a canary out (deploy id, version, when its traffic went to
   * 0), as JSON, written before the canary is deleted, so a retried rollback finding it gone knows who took it out.
   */
  rollbacks: `${PREFIX}/rollbacks`,
  /** On a Service whose selector opsflow changed: the selector as it was, restored when the release ends. */
  selector: `${PREFIX}/selector`,
} as const;

/** Labels. */
export const LABEL = {
  /** `canary` on the new release's Deployment, pods and Service. */
  role: `${PREFIX}/role`,
  /** A short hash of the deploy id (label values cannot hold one): selects one deploy's pods. */
  deployHash: `${PREFIX}/deploy-hash`,
  /** The version, in the characters a label value allows. */
  version: `${PREFIX}/version`,
  /** Set by the Deployment controller on each ReplicaSet and its pods: pins a Service to one ReplicaSet's pods. */
  podTemplateHash: 'pod-template-hash',
} as const;

/** The ReplicaSet revision the Deployment controller writes on Deployments and their ReplicaSets. */
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';

/** A short, stable hash of the deploy id, for a label value. */
export function deployHash(deployId: string): string {
  return createHash('sha256').update(deployId).digest('hex').slice(0, 16);
}

/** A label value for any text: allowed characters only, at most 63, starting and ending alphanumeric. */
export function labelValue(text: string): string {
  const value = text
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return value;
}

/** The image of a version: the template with `{{version}}` filled in. */
export function imageFor(template: string, version: string): string {
  return template.replace(IMAGE_PLACEHOLDER, version);
}

/** The version in an image the template made, or undefined when the image does not follow the template. */
export function versionOf(template: string, image: string): string | undefined {
  const [before = '', after = ''] = template.split(IMAGE_PLACEHOLDER).filter((_, i) => i !== 1);
  if (!image.startsWith(before) || !image.endsWith(after) || image.length <= before.length + after.length) {
    return undefined;
  }
  return image.slice(before.length, image.length - after.length);
}

/** An image tag as registries accept it (OCI distribution spec). */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Why `version` cannot be put in the template's image, or undefined when it can. */
export function imageProblem(template: string, version: string): string | undefined {
  const [before = ''] = template.split(IMAGE_PLACEHOLDER);
  const inTag = before.lastIndexOf(':') > before.lastIndexOf('/');
  if (inTag && !TAG.test(version)) {
    return `version ${version} cannot be an image tag (letters, digits, "_", "." and "-", at most 128)`;
  }
  if (/[\s@]/.test(version)) return `version ${version} cannot be part of an image reference`;
  return undefined;
}
