from setuptools import find_packages, setup

setup(
    name='oneformer3d',
    version='0.1.0',
    description='3D indoor scene understanding with 2D foundation-model features, on mmengine',
    packages=find_packages(include=['oneformer3d', 'oneformer3d.*']),
    python_requires='>=3.10',
    install_requires=[
        'torch>=2.1', 'numpy>=2.0', 'mmengine>=0.10', 'mmcv-lite>=2.0', 'scipy', 'plyfile',
        'zarr>=3', 'open_clip_torch', 'timm', 'tqdm', 'scikit-learn', 'scikit-image', 'matplotlib',
    ],
)
