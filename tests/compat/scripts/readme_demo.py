# Origin: delve-team/delve README.rst "Demo" (as published with delve 0.1.50 on PyPI; MIT
# licence): VGG16 on CIFAR10 with save_to="plotcsv". Changed for this test suite only where
# marked "compat:" -- the import, device="cpu", torchvision's FakeData (random 32x32 images, no
# download) in place of CIFAR10, 2 epochs instead of 10, COMPAT_TRAIN / COMPAT_TEST images, and
# data loading in the main process (num_workers=0).
import os

import torch
from delve_advisor import SaturationTracker  # compat: was `from delve import SaturationTracker`
from torch.cuda import is_available
from torch.nn import CrossEntropyLoss
from torchvision.datasets import FakeData  # compat: was CIFAR10 (a download)
from torchvision.transforms import ToTensor, Compose
from torch.utils.data.dataloader import DataLoader
from torch.optim import Adam
from torchvision.models.vgg import vgg16

# setup compute device
from tqdm import tqdm

if __name__ == "__main__":

  device = "cpu"  # compat: was "cuda:0" if is_available() else "cpu"

  # Get some data
  # compat: CIFAR10(root="./tmp", train=..., download=True, transform=...) -> FakeData
  n_train = int(os.environ.get("COMPAT_TRAIN", "64"))
  n_test = int(os.environ.get("COMPAT_TEST", "32"))
  train_data = FakeData(size=n_train, image_size=(3, 32, 32), num_classes=10,
                        transform=Compose([ToTensor()]))
  test_data = FakeData(size=n_test, image_size=(3, 32, 32), num_classes=10,
                       transform=Compose([ToTensor()]), random_offset=n_train)

  # compat: num_workers=0, was 6 -- six forks of a 2 GB training process, for one batch of
  # FakeData, cost this 2-core test machine more time (about 9 s) than they load.
  train_loader = DataLoader(train_data, batch_size=1024,
                            shuffle=True, num_workers=0,
                            pin_memory=True)
  test_loader = DataLoader(test_data, batch_size=1024,
                           shuffle=False, num_workers=0,  # compat: was 6
                           pin_memory=True)

  # instantiate model
  model = vgg16(num_classes=10).to(device)

  # instantiate optimizer and loss
  optimizer = Adam(params=model.parameters())
  criterion = CrossEntropyLoss().to(device)

  # initialize delve
  tracker = SaturationTracker("my_experiment", save_to="plotcsv", modules=model, device=device)

  # begin training
  for epoch in range(2):  # compat: was range(10)
    model.train()
    for (images, labels) in tqdm(train_loader):
      images, labels = images.to(device), labels.to(device)
      prediction = model(images)
      optimizer.zero_grad(set_to_none=True)
      with torch.cuda.amp.autocast():
        outputs = model(images)
        _, predicted = torch.max(outputs.data, 1)

        loss = criterion(outputs, labels)
      loss.backward()
      optimizer.step()

    total = 0
    test_loss = 0
    correct = 0
    model.eval()
    for (images, labels) in tqdm(test_loader):
      images, labels = images.to(device), labels.to(device)
      outputs = model(images)
      loss = criterion(outputs, labels)
      _, predicted = torch.max(outputs.data, 1)

      total += labels.size(0)
      correct += torch.sum((predicted == labels)).item()
      test_loss += loss.item()

    # add some additional metrics we want to keep track of
    tracker.add_scalar("accuracy", correct / total)
    tracker.add_scalar("loss", test_loss / total)

    # add saturation to the mix
    tracker.add_saturations()

  # close the tracker to finish training
  tracker.close()
