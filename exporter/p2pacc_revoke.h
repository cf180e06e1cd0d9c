/* SPDX-License-Identifier: GPL-2.0 */
/*
 * p2p_accel: exclusive ownership and revocation of buffers.
 */
#ifndef __P2PACC_REVOKE_H__
#define __P2PACC_REVOKE_H__

struct drm_device;
struct drm_file;
struct p2pacc_bo;
struct p2pacc_device;

void p2pacc_bo_revoke(struct p2pacc_bo *bo);
unsigned int p2pacc_revoke_all(struct p2pacc_device *adev, const char *why);
void p2pacc_reset(struct p2pacc_device *adev, const char *why);
void p2pacc_reset_begin(struct p2pacc_device *adev, const char *why);
void p2pacc_reset_end(struct p2pacc_device *adev);

int p2pacc_owner_open(struct drm_device *drm, struct drm_file *file);
void p2pacc_owner_close(struct drm_device *drm, struct drm_file *file);

#endif /* __P2PACC_REVOKE_H__ */
