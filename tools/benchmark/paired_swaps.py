"""Paired per-pair PSNR/IoU differences between two benchmark results.json files, calibrated-placement rows (experiment helper)."""
import json, sys, math
def load(p):
    rows = json.load(open(p))['rows']
    return {(r['sampler'], r['ref_steps'], r['label'], r['prompt'], r['seed']): r for r in rows if r['family']=='TaoCache calibrated placement'}
a, b = load(sys.argv[1]), load(sys.argv[2])
cfgs = sorted({(k[0],k[1]) for k in a})
allp=[]
for c in cfgs:
    out=[]
    for lab in sorted({k[2] for k in a if (k[0],k[1])==c}, key=lambda s: float(s.split()[-1])):
        ks=[k for k in a if (k[0],k[1])==c and k[2]==lab and k in b]
        d=[b[k]['psnr']-a[k]['psnr'] for k in ks]; di=[b[k]['iou']-a[k]['iou'] for k in ks]
        sp=[ (b[k]['ref_calls']/b[k]['calls']) - (a[k]['ref_calls']/a[k]['calls']) for k in ks]
        allp+=d
        out.append(f"{lab.split()[-1]}: {sum(d)/len(d):+.2f} dB ({sum(x>0 for x in d)}/{len(d)} up) iou {sum(di)/len(di):+.4f} dspeed {max(map(abs,sp)):.3f}")
    print(c, '; '.join(out))
print('overall mean', sum(allp)/len(allp), 'up', sum(x>0 for x in allp), 'of', len(allp))
