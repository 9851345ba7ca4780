"""Fits ShapePredictor.dlibRect (Sources/Faces/ShapePredictor.swift): the rectangle dlib's HOG
detector gives, in terms of the BlazeFace box Vigil detects, on the PyPI photos only (their
mirrors and rescales), never ../shared. Prints the fitted offsets and spreads; the constants in
dlibRect come from its `box:` line.

Usage: .venv/bin/python scripts/eval/fit_landmark_rect.py   (after make models and a release build)
"""
import json, subprocess, sys, numpy as np, dlib
from PIL import Image, ImageOps
photos = [".cache/photos/"+p for p in ["biden.jpg","obama.jpg","obama2.jpg","obama3.jpg","obama_partial_face.jpg","obama_partial_face2.jpg"]] + [".cache/models-work/inputs/t1.jpg", ".cache/models-work/inputs/Tom_Hanks_54745.png"]
det = dlib.get_frontal_face_detector()
rows=[]
import os
os.makedirs("/tmp/fit", exist_ok=True)
variants=[]
for p in photos:
    im = Image.open(p).convert("RGB")
    for k,v in enumerate([im, ImageOps.mirror(im), im.resize((im.width*2//3, im.height*2//3)), ImageOps.mirror(im).resize((im.width*3//2, im.height*3//2))]):
        path=f"/tmp/fit/{os.path.basename(p)}-{k}.jpg"; v.save(path, quality=95); variants.append(path)
out = subprocess.run([".build/release/vigil","detect","--json","--models","models"]+variants, capture_output=True, text=True).stdout
for line in out.splitlines():
    j=json.loads(line); a=np.asarray(Image.open(j["image"]))
    hog=det(a,1)
    for f in j["faces"]:
        x,y,w,h=f["box"]; lm=np.array(f["landmarks"])
        cx,cy=x+w/2,y+h/2
        best=None
        for r in hog:
            rx,ry=(r.left()+r.right())/2,(r.top()+r.bottom())/2
            if abs(rx-cx)<w/2 and abs(ry-cy)<h/2: best=r
        if best is None: continue
        eyes=(lm[0]+lm[1])/2; mouth=lm[3]
        rows.append(dict(cx=cx,cy=cy,w=w,h=h,ex=eyes[0],ey=eyes[1],mx=mouth[0],my=mouth[1],ed=np.linalg.norm(lm[0]-lm[1]),
            l=best.left(),t=best.top(),r=best.right(),b=best.bottom()))
print(len(rows),"faces matched")
R=rows
# model: rect centre = box centre + (a*w, b*h); rect size = s*w
dx=np.array([((r["l"]+r["r"])/2-r["cx"])/r["w"] for r in R]); dy=np.array([((r["t"]+r["b"])/2-r["cy"])/r["h"] for r in R])
sw=np.array([(r["r"]-r["l"])/r["w"] for r in R]); sh=np.array([(r["b"]-r["t"])/r["h"] for r in R])
print("box: dx %.4f±%.4f dy %.4f±%.4f sw %.4f±%.4f sh %.4f±%.4f"%(dx.mean(),dx.std(),dy.mean(),dy.std(),sw.mean(),sw.std(),sh.mean(),sh.std()))
# keypoint model: centre = eyes + u*(mouth-eyes); size = s * |mouth - eyes|
em=np.array([np.hypot(r["mx"]-r["ex"],r["my"]-r["ey"]) for r in R])
u=np.array([(((r["t"]+r["b"])/2)-r["ey"])/(r["my"]-r["ey"]) for r in R])
s=np.array([(r["r"]-r["l"])/e for r,e in zip(R,em)])
print("kp: u %.4f±%.4f size/em %.4f±%.4f"%(u.mean(),u.std(),s.mean(),s.std()))
xs=np.array([(((r["l"]+r["r"])/2)-(r["ex"]+r["mx"])/2)/e for r,e in zip(R,em)])
print("kp x offset/em %.4f±%.4f"%(xs.mean(),xs.std()))
